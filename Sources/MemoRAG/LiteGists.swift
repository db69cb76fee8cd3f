import Foundation
import Models
import Retrieval
import Tokenizers

/// The lite mode's memory text: an ordinary instruct model writes a gist of every ~4K-token piece of the document
/// (the reference's `gist` prompt); the gists, joined in order, are what the memory reads in full.
enum LiteGists {
    static func write(_ text: String, model: MemoryModel, prompts: PromptSet, chunkTokens: Int, gistTokens: Int,
                      progress: ((Int, Int) -> Void)?) throws -> String {
        let chunker = Chunker(tokenizer: model.lm.tokenizer, maxTokens: chunkTokens)
        let pieces = try chunker.chunk(text, document: "gist", firstId: 0).chunks
        var gists: [String] = []
        for (i, piece) in pieces.enumerated() {
            progress?(i, pieces.count)
            gists.append(try model.runWithoutMemory(prompts.gist.filling(["context": piece.text]),
                                                    maxNewTokens: gistTokens))
        }
        progress?(pieces.count, pieces.count)
        return gists.joined(separator: "\n")
    }
}
