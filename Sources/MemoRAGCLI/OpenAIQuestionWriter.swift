import Datasets
import Foundation
import MemoRAG
import Training

/// An OpenAI-compatible chat API as `ClueSynthesis`'s question writer (`data synth-clues --generator openai`): the
/// same chat messages as the local writer, the request's sampling seed in the body's `seed`, the reply cut at its
/// first newline as the local writer's stop string cuts it.
enum OpenAIQuestionWriter {
    static func make(configuration: OpenAIConfiguration, maxNewTokens: Int, temperature: Double)
        -> ClueSynthesis.QuestionWriter
    {
        let client = OpenAIChatClient(configuration: configuration)
        return { messages, seed in
            let reply = try waitFor {
                try await client.complete(messages, maxTokens: maxNewTokens, temperature: temperature, seed: seed)
            }
            return ClueQuestionWriter.firstLine(reply.text)
        }
    }
}

private final class Outcome<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}

/// Runs `body` to completion from synchronous code: a command's `run()` on the main thread, never from a task (the
/// work runs detached while the caller's thread waits).
func waitFor<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let outcome = Outcome<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { outcome.result = .success(try await body()) } catch { outcome.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try outcome.result!.get()
}
