import Foundation
import Torch

/// The pretraining store (DESIGN §5): `/tokens` uint32 (chunked, deflate), `/doc_offsets` uint64 `[n_docs+1]`,
/// optional `/validation_documents` uint64 (document ids held out by the train/validation split), and root attributes
/// `format = "memorag.tokens"`, `version`, `vocab_size`, `n_tokens`, `n_documents`, `tokenizer_sha256`, `sources`.
///
/// Opening validates the format, version, counts and offsets (and the tokenizer hash when one is given); token ids
/// are checked against `vocab_size` as they are read. The reader is safe to share between threads (reads take the
/// HDF5 lock).
public final class TokenStore: @unchecked Sendable {
    public static let format = "memorag.tokens"
    public static let version = 1

    public let url: URL
    public let vocabSize: Int
    public let tokenCount: Int
    public let tokenizerSHA256: String
    /// The names of the inputs the documents came from (file names), in order.
    public let sources: [String]
    /// `documentOffsets[i]..<documentOffsets[i+1]` are document i's tokens; the last entry is `tokenCount`.
    public let documentOffsets: [Int]
    /// Documents held out for validation (sorted); empty when the store was written without a split.
    public let validationDocuments: [Int]

    private let file: H5File
    private let tokens: H5Dataset

    public var documentCount: Int { documentOffsets.count - 1 }
    /// All documents not held out for validation, in order.
    public var trainingDocuments: [Int] {
        let held = Set(validationDocuments)
        return (0..<documentCount).filter { !held.contains($0) }
    }

    /// Opens and validates a store; with `tokenizerSHA256`, a store made with another tokenizer is refused.
    public init(url: URL, tokenizerSHA256 expectedTokenizer: String? = nil) throws {
        self.url = url
        let path = url.path
        file = try H5File.open(path: path)
        let header = try StoreHeader(file: file, format: Self.format, supportedVersion: Self.version,
                                     tokenizerSHA256: expectedTokenizer)
        vocabSize = header.vocabSize
        tokenizerSHA256 = header.tokenizerSHA256
        sources = header.sources
        tokens = try H5Dataset.open(in: file, name: "/tokens", of: UInt32.self)
        guard let n = try file.intAttribute("n_tokens"), n == Int64(tokens.count) else {
            throw DataError.invalid(path: path, reason: "n_tokens attribute does not match /tokens (\(tokens.count) "
                                        + "elements): the file is incomplete or damaged")
        }
        tokenCount = tokens.count
        let offsets = try H5Dataset.open(in: file, name: "/doc_offsets", of: UInt64.self)
        documentOffsets = try StoreHeader.checkedOffsets(try offsets.read(0..<offsets.count, as: UInt64.self),
                                                         total: tokenCount, name: "/doc_offsets", path: path)
        if let declared = try file.intAttribute("n_documents"), declared != Int64(documentOffsets.count - 1) {
            throw DataError.invalid(path: path, reason: "n_documents is \(declared) but /doc_offsets describes "
                                        + "\(documentOffsets.count - 1)")
        }
        if file.exists("/validation_documents") {
            let held = try H5Dataset.open(in: file, name: "/validation_documents", of: UInt64.self)
            let ids = try held.read(0..<held.count, as: UInt64.self).map { Int(clamping: $0) }
            let documents = documentOffsets.count - 1
            if let bad = ids.first(where: { $0 >= documents }) {
                throw DataError.invalid(path: path, reason: "/validation_documents names document \(bad) of \(documents)")
            }
            validationDocuments = ids.sorted()
        } else {
            validationDocuments = []
        }
    }

    public func documentRange(_ document: Int) -> Range<Int> {
        documentOffsets[document]..<documentOffsets[document + 1]
    }

    /// Token ids `range` of the whole stream; ids outside the vocabulary are an error naming the file.
    public func tokens(_ range: Range<Int>) throws -> [UInt32] {
        let ids = try tokens.read(range, as: UInt32.self)
        if let bad = ids.firstIndex(where: { Int($0) >= vocabSize }) {
            throw DataError.invalid(path: url.path, reason: "token \(ids[bad]) at \(range.lowerBound + bad) is outside "
                                        + "the vocabulary (\(vocabSize))")
        }
        return ids
    }

    public func document(_ index: Int) throws -> [UInt32] {
        guard index >= 0, index < documentCount else {
            throw DataError.invalid(path: url.path, reason: "no document \(index) (the store has \(documentCount))")
        }
        return try tokens(documentRange(index))
    }
}

/// Streams documents into a new pretraining store; `finish()` writes the index and attributes and renames the
/// temporary file into place. A writer dropped without `finish()` leaves nothing behind.
public final class TokenStoreWriter {
    public let url: URL
    public let vocabSize: Int
    public let tokenizerSHA256: String
    public private(set) var documentCount = 0
    public private(set) var tokenCount = 0

    private let output: AtomicOutput
    private var file: H5File?
    private var tokens: H5Dataset?
    private var offsets: [UInt64] = [0]
    private var pending: [UInt32] = []
    private var sources: [String] = []
    private var validation: [Int]?
    private var finished = false

    /// `chunkTokens` is the HDF5 chunk length (also the unit of compression and of partial reads).
    public init(url: URL, vocabSize: Int, tokenizerSHA256: String, chunkTokens: Int = 1 << 16,
                compressionLevel: Int = 4) throws {
        let (output, file) = try AtomicOutput.openStore(url: url, vocabSize: vocabSize)
        self.url = url
        self.vocabSize = vocabSize
        self.tokenizerSHA256 = tokenizerSHA256
        self.output = output
        self.file = file
        tokens = try H5Dataset.create(in: file, name: "/tokens", of: UInt32.self, chunk: chunkTokens,
                                      deflate: compressionLevel)
    }

    deinit { if !finished { file = nil; tokens = nil; output.discard() } }

    /// Appends one document (ids must be inside the vocabulary). Empty documents are skipped.
    public func append<Ids: Collection>(document ids: Ids) throws where Ids.Element: BinaryInteger {
        guard !ids.isEmpty else { return }
        pending.reserveCapacity(pending.count + ids.count)
        for id in ids {
            guard id >= 0, Int(id) < vocabSize else {
                throw DataError.writeFailed(path: url.path, reason: "token id \(id) outside the vocabulary (\(vocabSize))")
            }
            pending.append(UInt32(id))
        }
        tokenCount += ids.count
        documentCount += 1
        offsets.append(UInt64(tokenCount))
        if pending.count >= 1 << 20 { try flushTokens() }
    }

    /// Records an input's name in the `sources` attribute.
    public func addSource(_ name: String) { sources.append(name) }

    /// Marks documents (ids in append order) as held out for validation.
    public func setValidationDocuments(_ documents: [Int]) { validation = documents.sorted() }

    private func flushTokens() throws {
        try tokens?.append(pending)
        pending.removeAll(keepingCapacity: true)
    }

    /// Writes the offsets and attributes, closes the file and moves it into place.
    public func finish() throws {
        guard let file, !finished else { return }
        try output.finishStore(file, write: {
            try flushTokens()
            let offsetSet = try H5Dataset.create(in: file, name: "/doc_offsets", of: UInt64.self,
                                                 chunk: min(1 << 16, max(1, offsets.count)))
            try offsetSet.append(offsets)
            if let validation {
                if let bad = validation.first(where: { $0 < 0 || $0 >= documentCount }) {
                    throw DataError.writeFailed(path: url.path, reason: "validation document \(bad) of \(documentCount)")
                }
                let held = try H5Dataset.create(in: file, name: "/validation_documents", of: UInt64.self,
                                                chunk: max(1, min(4096, validation.count)))
                try held.append(validation.map { UInt64($0) })
            }
            try StoreHeader.write(to: file, format: TokenStore.format, version: TokenStore.version,
                                  vocabSize: vocabSize, tokenizerSHA256: tokenizerSHA256, sources: sources)
            try file.setAttribute("n_tokens", Int64(tokenCount))
            try file.setAttribute("n_documents", Int64(documentCount))
        }, close: {
            tokens = nil
            self.file = nil
            finished = true
        })
    }
}
