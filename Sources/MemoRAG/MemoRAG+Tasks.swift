import Foundation
import Models
import Retrieval
import Tokenizers
import Torch

extension MemoRAG {
    /// Text spans the memory recalls for `query`, one clue per line, from every document's memory.
    public func recall(_ query: String) throws -> [Clue] {
        try clues([.span], query: query)
    }

    /// Surrogate questions that sharpen `query`.
    public func rewrite(_ query: String) throws -> [Clue] {
        try clues([.surrogate], query: query)
    }

    /// A direct answer from the memory alone (one line per document when several are memorized).
    public func answer(_ query: String, maxNewTokens: Int? = nil) throws -> String {
        let store = try loaded()
        let replies = try store.memories.enumerated().map { i, memory in
            try memoryModel.run(store.prompts.answer.filling(["question": query]), after: memory,
                                maxNewTokens: maxNewTokens ?? configuration.replyTokens(for: .qa),
                                repetitionPenalty: configuration.repetitionPenalty)
        }
        return joinPerDocument(replies, store: store)
    }

    /// Numbered key points of the memorized text(s).
    public func summarize(maxNewTokens: Int? = nil) throws -> String {
        let store = try loaded()
        let replies = try store.memories.map { memory in
            try memoryModel.run(store.prompts.summarize, after: memory,
                                maxNewTokens: maxNewTokens ?? configuration.summaryTokens,
                                repetitionPenalty: configuration.repetitionPenalty)
        }
        return joinPerDocument(replies, store: store)
    }

    /// Answers `query`: `.memorag` recalls clues, retrieves evidence with them and answers from it; `.qa` answers
    /// from the memory alone; `.summarize` retrieves evidence for the memory's key points and summarizes it.
    public func ask(_ query: String, task: TaskKind = .memorag, maxNewTokens: Int? = nil,
                    onText: (@Sendable (String) -> Void)? = nil) async throws -> AskResult {
        let store = try loaded()
        if task != .summarize {
            guard !query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw MemoRAGError.invalidArgument("the query is empty")
            }
        }
        let clock = ContinuousClock()
        let started = clock.now
        var timings = AskTimings()
        switch task {
        case .qa:
            let text = try answer(query, maxNewTokens: maxNewTokens)
            onText?(text)
            timings.generate = (clock.now - started).seconds
            timings.total = timings.generate
            return AskResult(query: query, task: task, answer: text, clues: [], evidence: [], droppedEvidence: 0,
                             timings: timings)
        case .memorag, .summarize:
            var mark = clock.now
            var clues: [Clue]
            var attention: [Int]?
            if task == .memorag {
                clues = try self.clues(configuration.clueKinds, query: query)
                clues.append(Clue(kind: .query, text: query, document: nil))
                if let settings = configuration.memoryAttention {
                    guard configuration.rerankDepth == 0 else {
                        throw MemoRAGError.invalidArgument("memory attention joins the fusion, which re-ranking replaces: set rerankDepth to 0 (--rerank 0) to use it")
                    }
                    guard configuration.fusion == .reciprocalRank else {
                        throw MemoRAGError.invalidArgument("memory attention joins reciprocal rank fusion only (fusion is \(configuration.fusion.rawValue))")
                    }
                    attention = Array(try attentionRanking(query: query, settings: settings, store: store)
                        .prefix(Self.attentionListLength))
                }
            } else {
                clues = try keyPoints()
            }
            timings.recall = (clock.now - mark).seconds
            mark = clock.now
            let found: [Evidence]
            var likelihoods: [Int: Float]?
            if task == .memorag, configuration.rerankDepth > 0 {
                (found, likelihoods) = try reranked(clues, question: query, store: store)
            } else {
                found = try rankPassages(for: clues, attention: attention, store: store)
            }
            timings.retrieve = (clock.now - mark).seconds
            try Task.checkCancellation()
            mark = clock.now
            let limit = maxNewTokens ?? configuration.replyTokens(for: task)
            let (answer, evidence, dropped, snippets) = try await generateAnswer(query: task == .memorag ? query : nil,
                                                                       evidence: found, store: store,
                                                                       maxNewTokens: limit, onText: onText)
            timings.generate = (clock.now - mark).seconds
            timings.total = (clock.now - started).seconds
            return AskResult(query: query, task: task, answer: answer, clues: clues, evidence: evidence,
                             droppedEvidence: dropped, timings: timings, memoryAttention: attention, snippets: snippets,
                             questionLikelihoods: likelihoods)
        }
    }

    // MARK: steps

    func loaded() throws -> MemoryStore {
        guard let store else { throw MemoRAGError.noMemory }
        return store
    }

    /// Clues of each of `kinds` (spans from the recall prompt, surrogate questions from the rewrite prompt) from
    /// every document's memory: kind by kind, deduplicated within a kind. The generations are independent, so
    /// they run side by side (see `LibTorch.splittingThreads`).
    private func clues(_ kinds: [Clue.Kind], query: String) throws -> [Clue] {
        let store = try loaded()
        let filled: [Clue.Kind: String] = [.span: store.prompts.recall, .surrogate: store.prompts.rewrite,
                                           .draftAnswer: store.prompts.answer]
            .mapValues { $0.filling(["question": query]) }
        let instructions = try kinds.map { kind in
            guard let instruction = filled[kind] else { throw MemoRAGError.invalidArgument("no prompt writes \(kind) clues") }
            return instruction
        }
        // Recall and rewrite open alike; each memory reads their common opening once for all queries.
        let opening = memoryModel.commonOpening(instructions)
        // One generation per (kind, document memory).
        let jobs = kinds.indices.flatMap { kind in store.memories.indices.map { (kind: kind, memory: $0) } }
        let (memoryModel, configuration) = (memoryModel, configuration)
        let copied = configuration.spanClueStyle == .copied && kinds.contains(.span) ? copiedSpanConstraints(store) : nil
        let replies = try LibTorch.splittingThreads(count: jobs.count) { j in
            let constraint = kinds[jobs[j].kind] == .span ? copied?[jobs[j].memory] : nil
            return try memoryModel.run(instructions[jobs[j].kind], after: store.memories[jobs[j].memory],
                                       sharedOpening: opening, maxNewTokens: configuration.clueTokens,
                                       repetitionPenalty: configuration.repetitionPenalty, constraint: constraint)
        }
        return kinds.indices.flatMap { kind in
            let found = zip(jobs, replies).filter { job, _ in job.kind == kind }.flatMap { job, reply in
                ClueLines.lines(of: reply, echoing: store.prompts.memoryReply, question: query)
                    .map { Clue(kind: kinds[kind], text: $0, document: store.manifest.documents[job.memory].name) }
            }
            return ClueFilter.deduplicated(found)
        }
    }

    private func keyPoints() throws -> [Clue] {
        let store = try loaded()
        var clues: [Clue] = []
        for (memory, document) in zip(store.memories, store.manifest.documents) {
            let reply = try memoryModel.run(store.prompts.summarize, after: memory,
                                            maxNewTokens: configuration.summaryTokens,
                                            repetitionPenalty: configuration.repetitionPenalty)
            clues += ClueLines.lines(of: reply, echoing: store.prompts.memoryReply)
                .map { Clue(kind: .keyPoint, text: $0, document: document.name) }
        }
        return ClueFilter.deduplicated(clues)
    }

    /// Fits the evidence into the generator's positions (in ranking order, best first), puts it back in document
    /// order, and generates the answer.
    private func generateAnswer(query: String?, evidence: [Evidence], store: MemoryStore, maxNewTokens: Int,
                                onText: (@Sendable (String) -> Void)?) async throws
        -> (String, [Evidence], Int, [String]?)
    {
        let template = query == nil ? store.prompts.summaryGeneration : store.prompts.qaGeneration
        func prompt(_ texts: [String]) -> String {
            let knowledge = texts.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: "\n\n")
            return template.filling(["context": knowledge, "input": query ?? ""])
        }
        // The memory model continues from the memory when there is exactly one; otherwise answers without it.
        let continueFrom: (any ContextMemory)? = store.memories.count == 1 ? store.memories[0] : nil
        let tokenizer: any Tokenizer
        let stopTokenIds: Set<Int>
        let budget: Int
        switch generator {
        case .memoryModel:
            tokenizer = memoryModel.lm.tokenizer
            stopTokenIds = memoryModel.lm.stopTokenIds
            budget = memoryModel.promptBudget(memory: continueFrom?.positions ?? 0, maxNewTokens: maxNewTokens)
        case .local(let model):
            tokenizer = model.lm.tokenizer
            stopTokenIds = model.lm.stopTokenIds
            budget = model.promptBudget(memory: 0, maxNewTokens: maxNewTokens)
        case .openAI:
            stopTokenIds = []  // an API writes its own answer: the copied style constrains local decoding only
            tokenizer = memoryModel.lm.tokenizer
            budget = configuration.remoteContextTokens - maxNewTokens
        }
        let overhead = tokenizer.encode(prompt([]), addSpecialTokens: false).count + 16  // + chat-format tokens
        let requested: Int?
        if case .openAI = generator { requested = configuration.evidenceTokens } else {
            requested = configuration.evidenceTokens ?? configuration.localEvidenceTokens
        }
        let cap = requested.map { min(budget, overhead + min($0, budget)) } ?? budget
        var picked: [(item: Evidence, ids: [Int])] = []
        var used = overhead
        for item in evidence {
            let ids = tokenizer.encode(item.text, addSpecialTokens: false)
            if used + ids.count + 2 <= cap {
                picked.append((item, ids))
                used += ids.count + 2
            }
        }
        picked.sort { $0.item.chunkId < $1.item.chunkId }  // chunk ids follow document order, documents in memorize order
        let chosen = picked.map(\.item)
        let dropped = evidence.count - chosen.count
        // The generator reads the passages, or only their sentences closest to the question.
        var read = picked.map { (text: $0.item.text, ids: $0.ids) }
        let snippets: Int?
        if case .openAI = generator { snippets = configuration.evidenceSnippets } else {
            snippets = configuration.evidenceSnippets ?? configuration.localEvidenceSnippets
        }
        var snippetsRead: [String]?
        if let keep = snippets, keep != .max, let query {
            let closest = try EvidenceSnippets.closest(keep, of: chosen, to: query, embedder: embedder)
            read = closest.map { (text: $0, ids: tokenizer.encode($0, addSpecialTokens: false)) }
            snippetsRead = closest
        }
        let text = prompt(read.map(\.text))
        // A copied answer is a span of the evidence; the repetition penalty would count every evidence token (and
        // the chat's end-of-turn token) against it, so it is off.
        let constraint = configuration.answerStyle != .generated && !stopTokenIds.isEmpty && !read.isEmpty
            ? SpanCopyConstraint.copying(read.map(\.ids), tokenizer: tokenizer, stopTokenIds: stopTokenIds) : nil
        let penalty = constraint == nil ? configuration.repetitionPenalty : 1
        // A cancelled task (e.g. a server client that disconnected) stops the generation at the next piece.
        let emit: (String) -> Bool = { piece in onText?(piece); return !Task.isCancelled }
        // A scored answer is judged on the text read alone, without the memory; where no span qualifies, the
        // greedy copy under `constraint` answers instead.
        let style = configuration.answerStyle
        func scored(_ reader: MemoryModel) throws -> String? {
            guard style == .scored, constraint != nil else { return nil }
            let span = try reader.likeliestSpan(text, sources: read.map(\.ids), maxTokens: maxNewTokens)
            if let span { _ = emit(span) }
            return span
        }
        let answer: String
        switch generator {
        case .memoryModel:
            if let span = try scored(memoryModel) {
                answer = span
            } else if let memory = continueFrom {
                answer = try memoryModel.run(text, after: memory, maxNewTokens: maxNewTokens, repetitionPenalty: penalty,
                                             constraint: constraint, onText: emit)
            } else {
                answer = try memoryModel.runWithoutMemory(text, maxNewTokens: maxNewTokens, repetitionPenalty: penalty,
                                                          constraint: constraint, onText: emit)
            }
        case .local(let model):
            answer = try scored(model) ?? model.runWithoutMemory(text, maxNewTokens: maxNewTokens, repetitionPenalty: penalty,
                                                constraint: constraint, onText: emit)
        case .openAI(let client):
            if let onText {
                var collected = ""
                for try await piece in client.stream([.user(text)], maxTokens: maxNewTokens) {
                    collected += piece
                    onText(piece)
                }
                answer = collected.trimmingCharacters(in: .whitespacesAndNewlines)
            } else {
                answer = try await client.complete([.user(text)], maxTokens: maxNewTokens).text
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        return (answer, chosen, dropped, snippetsRead)
    }

    private func joinPerDocument(_ replies: [String], store: MemoryStore) -> String {
        guard replies.count > 1 else { return replies.first ?? "" }
        return zip(store.manifest.documents, replies).map { "[\($0.name)] \($1)" }.joined(separator: "\n")
    }
}

/// Clues of several generations (kinds, documents) deduplicated, first kept; the lines of each reply come from
/// `ClueLines`, the hygiene the clue-feedback training stage scores with too.
enum ClueFilter {
    static func deduplicated(_ clues: [Clue]) -> [Clue] {
        var seen = Set<String>()
        return clues.filter { seen.insert($0.text.lowercased()).inserted }
    }
}
