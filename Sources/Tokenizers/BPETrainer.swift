import Foundation

/// Trains a GPT-2 style byte-level BPE tokenizer, the way HF `tokenizers`' `BpeTrainer` does with a `ByteLevel`
/// pre-tokenizer (`add_prefix_space: false`, GPT-2 regex) and the full byte alphabet as initial alphabet:
///
/// 1. Each text is split with the GPT-2 pattern and each piece's UTF-8 bytes become a word of byte symbols
///    (GPT-2's byte ↔ character map); identical words are counted once with their frequency.
/// 2. The vocabulary starts with the special tokens (ids 0, 1, …), then the 256 byte symbols sorted by the code
///    point of their character (HF's order).
/// 3. Repeatedly, the most frequent adjacent pair of symbols is merged into a new token, until the vocabulary
///    (special tokens included) has `vocabSize` entries or no pair occurs `minFrequency` times.
///
/// **Ties** between pairs of equal frequency go to the pair whose (left id, right id) is smallest — HF's rule, so
/// with the same word counts the merges come out as HF's. Pair frequencies are kept up to date incrementally: an
/// index pair → words holding it says which words a merge touches, only the neighbours of each merged occurrence
/// change count, and a max-heap with lazy invalidation (a popped entry whose count is stale is pushed back with the
/// current count) picks the next pair.
///
/// As in HF, special tokens are not cut out of the training text (a "<|endoftext|>" in the corpus is counted as the
/// pieces "<|", "endoftext", "|>"), and `train(files:)` feeds each line (with its "\n") as one text, as
/// `Tokenizer.train(files)` does.
public enum BPETrainer {
    /// Where training stands; `train` calls its `progress` closure now and then, on the calling thread.
    public struct Progress: Sendable {
        public enum Phase: String, Sendable {
            /// Reading and pre-tokenizing text.
            case counting
            /// Learning merges.
            case merging
            /// Finished.
            case done
        }

        public var phase: Phase
        /// Seconds since training started.
        public var elapsed: Double
        /// Texts (lines for `train(files:)`) and UTF-8 bytes read so far.
        public var texts: Int
        public var bytes: Int
        /// The file being read (`train(files:)`), 1-based, and how many there are.
        public var file: Int
        public var files: Int
        /// Distinct pre-tokenized words so far.
        public var uniqueWords: Int
        /// Merges learned so far, and how many the vocabulary size asks for (fewer may be learned when pairs run
        /// out or fall under `minFrequency`).
        public var merges: Int
        public var mergesTarget: Int
    }

    /// Trains on `texts` (each one pre-tokenized on its own, like HF's `train_from_iterator`).
    public static func train(texts: some Sequence<String>, vocabSize: Int, minFrequency: Int = 2,
                             specialTokens: [String] = ["<|endoftext|>"],
                             progress: ((Progress) -> Void)? = nil) throws -> TrainedBPE {
        try validate(vocabSize: vocabSize, specialTokens: specialTokens)
        let start = Date()
        var counter = WordCounter()
        var report = Progress(phase: .counting, elapsed: 0, texts: 0, bytes: 0, file: 0, files: 0, uniqueWords: 0,
                              merges: 0, mergesTarget: max(0, vocabSize - initialSize(specialTokens)))
        for text in texts {
            var text = text
            text.withUTF8 { counter.add($0) }
            if let progress, counter.texts % 8192 == 0 {
                report.update(counter, start)
                progress(report)
            }
        }
        report.update(counter, start)
        progress?(report)
        return try learn(counter: counter, vocabSize: vocabSize, minFrequency: minFrequency,
                     specialTokens: specialTokens, start: start, report: report, progress: progress)
    }

    /// Trains on UTF-8 text files, each line (with its "\n") one text as in HF's `Tokenizer.train(files)`.
    /// Throws, naming the file, for a file that cannot be read, is empty, or is not valid UTF-8.
    public static func train(files: [URL], vocabSize: Int, minFrequency: Int = 2,
                             specialTokens: [String] = ["<|endoftext|>"],
                             progress: ((Progress) -> Void)? = nil) throws -> TrainedBPE {
        try validate(vocabSize: vocabSize, specialTokens: specialTokens)
        // Missing and empty files fail before any work.
        for url in files {
            let size: Int
            do {
                size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
            } catch {
                throw BPETrainerError.unreadableFile(path: url.path, reason: error.localizedDescription)
            }
            if size == 0 { throw BPETrainerError.emptyFile(path: url.path) }
        }
        let start = Date()
        var counter = WordCounter()
        var report = Progress(phase: .counting, elapsed: 0, texts: 0, bytes: 0, file: 0, files: files.count,
                              uniqueWords: 0, merges: 0, mergesTarget: max(0, vocabSize - initialSize(specialTokens)))
        for (index, url) in files.enumerated() {
            report.file = index + 1
            report.update(counter, start)
            progress?(report)
            let data = try readTextFile(url)
            data.withUnsafeBytes { raw in
                let bytes = raw.bindMemory(to: UInt8.self)
                var lineStart = 0
                var nextReport = 1 << 22
                for i in 0..<bytes.count where bytes[i] == 0x0A {
                    counter.add(UnsafeBufferPointer(rebasing: bytes[lineStart...i]))
                    lineStart = i + 1
                    if let progress, lineStart >= nextReport {
                        nextReport += 1 << 22
                        report.update(counter, start)
                        progress(report)
                    }
                }
                if lineStart < bytes.count { counter.add(UnsafeBufferPointer(rebasing: bytes[lineStart...])) }
            }
        }
        report.update(counter, start)
        progress?(report)
        return try learn(counter: counter, vocabSize: vocabSize, minFrequency: minFrequency,
                     specialTokens: specialTokens, start: start, report: report, progress: progress)
    }

    /// The contents of a training file, checked: readable, not empty, valid UTF-8.
    static func readTextFile(_ url: URL) throws -> Data {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw BPETrainerError.unreadableFile(path: url.path, reason: error.localizedDescription)
        }
        if data.isEmpty { throw BPETrainerError.emptyFile(path: url.path) }
        if let offset = data.withUnsafeBytes({ firstInvalidUTF8($0.bindMemory(to: UInt8.self)) }) {
            let line = data.prefix(offset).reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
            throw BPETrainerError.notUTF8(path: url.path, byteOffset: offset, line: line)
        }
        return data
    }

    static func validate(vocabSize: Int, specialTokens: [String]) throws {
        var seen = Set<String>()
        for token in specialTokens {
            if token.isEmpty { throw BPETrainerError.invalidSpecialToken(token: token, reason: "it is empty") }
            if !seen.insert(token).inserted {
                throw BPETrainerError.invalidSpecialToken(token: token, reason: "it is given twice")
            }
        }
        let minimum = initialSize(specialTokens)
        if vocabSize < minimum { throw BPETrainerError.vocabularyTooSmall(requested: vocabSize, minimum: minimum) }
    }

    /// Special tokens plus the byte alphabet (a special token equal to a byte symbol is counted once).
    static func initialSize(_ specialTokens: [String]) -> Int {
        Set(specialTokens).union(ByteLevel.byteToScalar.map { String($0) }).count
    }

    // MARK: - Counting

    /// Distinct pre-tokenized words (as raw UTF-8 bytes) and their counts.
    struct WordCounter {
        var table = ByteKeyTable(minimumCapacity: 1 << 14)
        var counts: [Int] = []
        var texts = 0
        var bytes = 0
        var words = 0

        /// The pieces of the text being added (kept to reuse its storage).
        private var pieces: [Range<Int>] = []

        mutating func add(_ text: UnsafeBufferPointer<UInt8>) {
            texts += 1
            bytes += text.count
            guard let base = text.baseAddress, text.count > 0 else { return }
            // The tokenizer's own GPT-2 scanner, so training splits text exactly as the trained tokenizer will.
            pieces.removeAll(keepingCapacity: true)
            SplitPattern.gpt2.split(base, 0..<text.count, into: &pieces)
            for piece in pieces {
                words += 1
                let (index, inserted) = table.insert(base + piece.lowerBound, piece.count)
                if inserted { counts.append(1) } else { counts[index] += 1 }
            }
        }
    }

    // MARK: - Merging

    struct HeapEntry {
        var count: Int
        var pair: UInt64
        /// Higher count first, then the smaller (left, right) pair.
        @inline(__always)
        func precedes(_ other: HeapEntry) -> Bool {
            count != other.count ? count > other.count : pair < other.pair
        }
    }

    struct PairHeap {
        var items: [HeapEntry] = []

        init(_ entries: [HeapEntry]) {
            items = entries
            var index = items.count / 2 - 1
            while index >= 0 {
                siftDown(index)
                index -= 1
            }
        }

        var isEmpty: Bool { items.isEmpty }

        mutating func push(_ entry: HeapEntry) {
            items.append(entry)
            var child = items.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                if !items[child].precedes(items[parent]) { break }
                items.swapAt(child, parent)
                child = parent
            }
        }

        mutating func pop() -> HeapEntry? {
            guard !items.isEmpty else { return nil }
            let top = items[0]
            let last = items.removeLast()
            if !items.isEmpty {
                items[0] = last
                siftDown(0)
            }
            return top
        }

        private mutating func siftDown(_ start: Int) {
            var parent = start
            let count = items.count
            while true {
                let left = 2 * parent + 1
                if left >= count { return }
                var best = left
                if left + 1 < count && items[left + 1].precedes(items[left]) { best = left + 1 }
                if !items[best].precedes(items[parent]) { return }
                items.swapAt(best, parent)
                parent = best
            }
        }
    }

    @inline(__always)
    static func pairKey(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }

    static func learn(counter: WordCounter, vocabSize: Int, minFrequency: Int, specialTokens: [String],
                      start: Date, report: Progress, progress: ((Progress) -> Void)?) throws -> TrainedBPE {
        var report = report
        report.phase = .merging

        // Vocabulary: special tokens, then the byte symbols by code point.
        var vocabulary: [String] = []
        var ids: [String: Int32] = [:]
        func add(_ token: String) -> Int32 {
            if let id = ids[token] { return id }
            let id = Int32(vocabulary.count)
            vocabulary.append(token)
            ids[token] = id
            return id
        }
        for token in specialTokens { _ = add(token) }
        var byteIDs = [Int32](repeating: 0, count: 256)
        for (byte, symbol) in ByteLevel.byteToScalar.enumerated().sorted(by: { $0.element.value < $1.element.value }) {
            byteIDs[byte] = add(String(symbol))
        }

        // Words as runs of symbol ids in one flat array; merging only shortens them, in place.
        let wordTotal = counter.counts.count
        var symbols: [Int32] = []
        symbols.reserveCapacity(counter.table.storage.count)
        var wordStart = [Int](repeating: 0, count: wordTotal)
        var wordLength = [Int](repeating: 0, count: wordTotal)
        for word in 0..<wordTotal {
            wordStart[word] = symbols.count
            for byte in counter.table.key(word) { symbols.append(byteIDs[Int(byte)]) }
            wordLength[word] = symbols.count - wordStart[word]
        }
        let wordCount = counter.counts

        // Pair counts and the words holding each pair.
        var pairCounts: [UInt64: Int] = [:]
        var pairWords: [UInt64: [Int32]] = [:]
        for word in 0..<wordTotal where wordLength[word] > 1 {
            let base = wordStart[word]
            for i in base..<(base + wordLength[word] - 1) {
                let key = pairKey(symbols[i], symbols[i + 1])
                pairCounts[key, default: 0] += wordCount[word]
                if pairWords[key]?.last != Int32(word) { pairWords[key, default: []].append(Int32(word)) }
            }
        }
        var heap = PairHeap(pairCounts.map { HeapEntry(count: $0.value, pair: $0.key) })

        var merges: [(Int32, Int32)] = []
        var stamp = [Int32](repeating: -1, count: wordTotal)
        var increased = Set<UInt64>()
        var lastReport = Date()
        report.elapsed = lastReport.timeIntervalSince(start)
        progress?(report)

        @inline(__always)
        func change(_ key: UInt64, _ delta: Int) {
            let count = (pairCounts[key] ?? 0) + delta
            pairCounts[key] = count == 0 ? nil : count
            if delta > 0 { increased.insert(key) }
        }

        while vocabulary.count < vocabSize, let top = heap.pop() {
            let current = pairCounts[top.pair] ?? 0
            if current != top.count {
                if current > 0 { heap.push(HeapEntry(count: current, pair: top.pair)) }
                continue
            }
            if current < 1 || current < minFrequency { break }
            let a = Int32(truncatingIfNeeded: top.pair >> 32)
            let b = Int32(truncatingIfNeeded: top.pair & 0xFFFF_FFFF)
            let c = add(vocabulary[Int(a)] + vocabulary[Int(b)])
            let step = Int32(merges.count)
            merges.append((a, b))

            increased.removeAll(keepingCapacity: true)
            for word32 in pairWords.removeValue(forKey: top.pair) ?? [] {
                let word = Int(word32)
                if stamp[word] == step { continue }
                stamp[word] = step
                let base = wordStart[word]
                let length = wordLength[word]
                let count = wordCount[word]
                var read = base
                var write = base
                let end = base + length
                var changed = false
                while read < end {
                    if read + 1 < end && symbols[read] == a && symbols[read + 1] == b {
                        changed = true
                        change(top.pair, -count)
                        if write > base {
                            let previous = symbols[write - 1]
                            change(pairKey(previous, a), -count)
                            let key = pairKey(previous, c)
                            change(key, count)
                            if pairWords[key]?.last != word32 { pairWords[key, default: []].append(word32) }
                        }
                        if read + 2 < end {
                            let next = symbols[read + 2]
                            change(pairKey(b, next), -count)
                            let key = pairKey(c, next)
                            change(key, count)
                            if pairWords[key]?.last != word32 { pairWords[key, default: []].append(word32) }
                        }
                        symbols[write] = c
                        read += 2
                    } else {
                        symbols[write] = symbols[read]
                        read += 1
                    }
                    write += 1
                }
                if changed { wordLength[word] = write - base }
            }
            for key in increased {
                if let count = pairCounts[key], count > 0 { heap.push(HeapEntry(count: count, pair: key)) }
            }

            if let progress, merges.count % 64 == 0 {
                let now = Date()
                if now.timeIntervalSince(lastReport) >= 0.2 {
                    lastReport = now
                    report.merges = merges.count
                    report.elapsed = now.timeIntervalSince(start)
                    progress(report)
                }
            }
        }

        report.phase = .done
        report.merges = merges.count
        report.elapsed = Date().timeIntervalSince(start)
        progress?(report)

        return try TrainedBPE(
            vocabulary: vocabulary,
            merges: merges.map { TrainedBPE.Merge(left: vocabulary[Int($0.0)], right: vocabulary[Int($0.1)]) },
            specialTokens: specialTokens,
            statistics: TrainedBPE.Statistics(texts: counter.texts, bytes: counter.bytes, words: counter.words,
                                              uniqueWords: counter.counts.count))
    }

    // MARK: - UTF-8

    /// The offset of the first byte that does not start a valid UTF-8 sequence (overlong forms, surrogates and
    /// code points above U+10FFFF are invalid), or nil.
    static func firstInvalidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        let count = bytes.count
        var i = 0
        while i < count {
            let lead = bytes[i]
            if lead < 0x80 {
                i += 1
                continue
            }
            let need: Int
            var value: UInt32
            switch lead {
            case 0xC2...0xDF: need = 1; value = UInt32(lead & 0x1F)
            case 0xE0...0xEF: need = 2; value = UInt32(lead & 0x0F)
            case 0xF0...0xF4: need = 3; value = UInt32(lead & 0x07)
            default: return i
            }
            if i + need >= count { return i }
            for k in 1...need {
                let byte = bytes[i + k]
                if byte & 0xC0 != 0x80 { return i }
                value = value << 6 | UInt32(byte & 0x3F)
            }
            if (need == 2 && (value < 0x800 || (0xD800...0xDFFF).contains(value)))
                || (need == 3 && (value < 0x10000 || value > 0x10FFFF)) {
                return i
            }
            i += need + 1
        }
        return nil
    }
}

extension BPETrainer.Progress {
    mutating func update(_ counter: BPETrainer.WordCounter, _ start: Date) {
        texts = counter.texts
        bytes = counter.bytes
        uniqueWords = counter.counts.count
        elapsed = Date().timeIntervalSince(start)
    }
}

/// Failures of `BPETrainer`; messages name the file.
public enum BPETrainerError: Error, LocalizedError, Equatable {
    case unreadableFile(path: String, reason: String)
    case emptyFile(path: String)
    case notUTF8(path: String, byteOffset: Int, line: Int)
    case vocabularyTooSmall(requested: Int, minimum: Int)
    case invalidSpecialToken(token: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .unreadableFile(let path, let reason): return "\(path): cannot read: \(reason)"
        case .emptyFile(let path): return "\(path): the file is empty"
        case .notUTF8(let path, let offset, let line):
            return "\(path): not valid UTF-8 (first bad byte at offset \(offset), line \(line))"
        case .vocabularyTooSmall(let requested, let minimum):
            return "vocabulary size \(requested) is too small: the special tokens and the 256 byte symbols need \(minimum)"
        case .invalidSpecialToken(let token, let reason):
            return "special token \(token.debugDescription) is not usable: \(reason)"
        }
    }
}

/// A trained byte-level BPE tokenizer: vocabulary (id → token, tokens spelled in GPT-2's byte symbols), merges in
/// rank order, and special tokens. `tokenizerJSON()` is an HF `tokenizer.json` that `tokenizers.Tokenizer.from_file`
/// loads and that encodes as `encode(_:)` here does.
public struct TrainedBPE: Sendable, Equatable {
    public struct Merge: Sendable, Hashable, CustomStringConvertible {
        public let left: String
        public let right: String
        public var description: String { "\(left) \(right)" }

        public init(left: String, right: String) {
            self.left = left
            self.right = right
        }
    }

    /// What the corpus held.
    public struct Statistics: Sendable, Equatable {
        /// Texts (lines for files) and their UTF-8 bytes.
        public let texts: Int
        public let bytes: Int
        /// Pre-tokenized words, and the distinct ones.
        public let words: Int
        public let uniqueWords: Int
    }

    /// Token strings by id: special tokens, the 256 byte symbols, then one token per merge (fewer if a merge made
    /// a token that already existed).
    public let vocabulary: [String]
    public let merges: [Merge]
    public let specialTokens: [String]
    public let statistics: Statistics

    let tokenIDs: [String: Int]
    /// The library's tokenizer loaded from `tokenizerJSON()`: what encodes and decodes, so the trained files and
    /// `encode` cannot disagree.
    let tokenizer: BPETokenizer

    init(vocabulary: [String], merges: [Merge], specialTokens: [String], statistics: Statistics) throws {
        self.vocabulary = vocabulary
        self.merges = merges
        self.specialTokens = specialTokens
        self.statistics = statistics
        var tokenIDs: [String: Int] = [:]
        for (id, token) in vocabulary.enumerated() where tokenIDs[token] == nil { tokenIDs[token] = id }
        self.tokenIDs = tokenIDs
        let json = Self.tokenizerJSON(vocabulary: vocabulary, merges: merges, specialTokens: specialTokens, tokenIDs: tokenIDs)
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw TokenizerError.invalid(path: "trained tokenizer", reason: "tokenizer.json is not an object")
        }
        tokenizer = try BPETokenizer(tokenizerJSON: object, path: "trained tokenizer")
    }

    public static func == (lhs: TrainedBPE, rhs: TrainedBPE) -> Bool {
        lhs.vocabulary == rhs.vocabulary && lhs.merges == rhs.merges && lhs.specialTokens == rhs.specialTokens
            && lhs.statistics == rhs.statistics
    }

    /// Token ids of `text` as HF encodes with `tokenizerJSON()`: special tokens split out, GPT-2 pre-tokenization,
    /// bytes to symbols, then merges applied lowest rank first.
    public func encode(_ text: String) -> [Int] { tokenizer.encode(text, addSpecialTokens: false) }

    /// The text of `ids` (HF's ByteLevel decoder: symbols back to bytes, invalid UTF-8 replaced), special tokens
    /// kept unless `skipSpecialTokens`.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
    }

    // MARK: - Files

    /// HF `tokenizer.json`: BPE model (vocab, merges as "left right" strings), ByteLevel pre-tokenizer
    /// (`add_prefix_space: false`, `use_regex: true`), ByteLevel post-processor and decoder, no normalizer, the
    /// special tokens as added tokens. Deterministic: the same training gives the same bytes.
    public func tokenizerJSON() -> String {
        Self.tokenizerJSON(vocabulary: vocabulary, merges: merges, specialTokens: specialTokens, tokenIDs: tokenIDs)
    }

    private static func tokenizerJSON(vocabulary: [String], merges: [Merge], specialTokens: [String],
                                      tokenIDs: [String: Int]) -> String {
        var out = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": ["
        for (index, token) in specialTokens.enumerated() {
            out += index == 0 ? "\n" : ",\n"
            out += "    {\"id\": \(tokenIDs[token]!), \"content\": \(quote(token)), \"single_word\": false, "
            out += "\"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}"
        }
        out += specialTokens.isEmpty ? "],\n" : "\n  ],\n"
        let byteLevel = "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": false, \"use_regex\": true}"
        out += "  \"normalizer\": null,\n"
        out += "  \"pre_tokenizer\": \(byteLevel),\n"
        out += "  \"post_processor\": \(byteLevel),\n"
        out += "  \"decoder\": \(byteLevel),\n"
        out += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
        out += "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n"
        out += "    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n"
        out += "    \"vocab\": {"
        var first = true
        for (id, token) in vocabulary.enumerated() where tokenIDs[token] == id {
            out += first ? "\n" : ",\n"
            first = false
            out += "      \(quote(token)): \(id)"
        }
        out += "\n    },\n    \"merges\": ["
        for (index, merge) in merges.enumerated() {
            out += index == 0 ? "\n" : ",\n"
            out += "      \(quote(merge.left + " " + merge.right))"
        }
        out += merges.isEmpty ? "]\n  }\n}\n" : "\n    ]\n  }\n}\n"
        return out
    }

    /// A minimal `tokenizer_config.json` for transformers' `PreTrainedTokenizerFast` (the first special token as
    /// BOS and EOS, GPT-2 style).
    public func tokenizerConfigJSON(modelMaxLength: Int? = nil) -> String {
        var lines: [String] = ["\"add_bos_token\": false", "\"add_prefix_space\": false"]
        var decoder: [String] = []
        for token in specialTokens {
            decoder.append("    \"\(tokenIDs[token]!)\": {\"content\": \(Self.quote(token)), \"lstrip\": false, "
                + "\"normalized\": false, \"rstrip\": false, \"single_word\": false, \"special\": true}")
        }
        lines.append("\"added_tokens_decoder\": {" + (decoder.isEmpty ? "}" : "\n" + decoder.joined(separator: ",\n") + "\n  }"))
        if let first = specialTokens.first {
            lines.append("\"bos_token\": \(Self.quote(first))")
        }
        lines.append("\"clean_up_tokenization_spaces\": false")
        if let first = specialTokens.first {
            lines.append("\"eos_token\": \(Self.quote(first))")
        }
        if let modelMaxLength { lines.append("\"model_max_length\": \(modelMaxLength)") }
        lines.append("\"tokenizer_class\": \"PreTrainedTokenizerFast\"")
        return "{\n  " + lines.joined(separator: ",\n  ") + "\n}\n"
    }

    /// Writes `tokenizer.json` and `tokenizer_config.json` into `directory` (created if needed).
    public func write(to directory: URL, modelMaxLength: Int? = nil) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(tokenizerJSON().utf8).write(to: directory.appendingPathComponent("tokenizer.json"), options: .atomic)
        try Data(tokenizerConfigJSON(modelMaxLength: modelMaxLength).utf8)
            .write(to: directory.appendingPathComponent("tokenizer_config.json"), options: .atomic)
    }

    /// A JSON string literal, escaped as HF's tokenizers (serde_json) write it.
    static func quote(_ text: String) -> String { OrderedJSON.quoted(text) }
}
