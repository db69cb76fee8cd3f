import Foundation
import Tokenizers
import Torch

/// `data prepare`: tokenises text files (one document each) and JSONL files (one document per line's `text`) into
/// a pretraining store, refusing the evaluation books, and records a seeded train/validation split by document.
public enum PretrainingBuilder {
    public struct Summary: Sendable {
        public var documents: Int
        public var tokens: Int
        public var validationDocuments: Int
    }

    public enum Progress: Sendable {
        case document(source: String, tokens: Int, totalTokens: Int)
    }

    /// The input files: files as given; directories searched recursively for `.txt` and `.jsonl` files, leaving out
    /// hidden folders and `eval/` folders (where `data fetch-corpus` puts the evaluation books).
    public static func expandInputs(_ inputs: [URL]) throws -> [URL] {
        var files: [URL] = []
        for input in inputs {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input.path, isDirectory: &isDirectory) else {
                throw DataError.unreadable(path: input.path, reason: "no such file or directory")
            }
            if !isDirectory.boolValue { files.append(input); continue }
            guard let walker = FileManager.default.enumerator(at: input, includingPropertiesForKeys: [.isDirectoryKey])
            else { continue }
            var found: [URL] = []
            for case let url as URL in walker {
                let name = url.lastPathComponent
                if (try? url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true {
                    if name.hasPrefix(".") || name == "eval" { walker.skipDescendants() }
                    continue
                }
                if name.hasSuffix(".txt") || name.hasSuffix(".jsonl") { found.append(url) }
            }
            files += found.sorted { $0.path < $1.path }
        }
        return files
    }

    /// The documents of one input file with their source names (`file` or `file:LINE`).
    public static func documents(in url: URL) throws -> [(source: String, text: String)] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DataError.unreadable(path: url.path, reason: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DataError.badInput(source: url.path, reason: "not valid UTF-8")
        }
        guard url.pathExtension == "jsonl" else { return [(url.path, text)] }
        var docs: [(String, String)] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let source = "\(url.path):\(i + 1)"
            guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
                throw DataError.badInput(source: source, reason: "not a JSON object")
            }
            guard let body = object["text"] as? String else {
                throw DataError.badInput(source: source, reason: "no string field \"text\"")
            }
            docs.append((source, body))
        }
        return docs
    }

    /// `heldOut` files are stored after the inputs and are always validation documents (a split chosen by the
    /// caller, e.g. held-out text of a domain); `validationFraction` holds out a seeded share of `inputs` besides.
    public static func build(inputs: [URL], heldOut: [URL] = [], tokenizer: any Tokenizer, tokenizerSHA256: String,
                             output: URL, validationFraction: Double = 0, seed: UInt64 = 0,
                             progress: (Progress) -> Void = { _ in }) throws -> Summary {
        guard validationFraction >= 0, validationFraction < 1 else {
            throw DataError.badInput(source: "--validation-fraction", reason: "must be in [0, 1), got \(validationFraction)")
        }
        let files = try expandInputs(inputs), heldOutFiles = try expandInputs(heldOut)
        guard !files.isEmpty else { throw DataError.badInput(source: "inputs", reason: "no .txt or .jsonl files") }
        // Check every input before writing anything: an evaluation book anywhere stops the build.
        var all: [(source: String, text: String)] = [], held: [(source: String, text: String)] = []
        for file in files + heldOutFiles {
            let docs = try documents(in: file)
            for d in docs { try EvaluationBooks.refuse(text: d.text, source: d.source) }
            if heldOutFiles.contains(file) { held += docs } else { all += docs }
        }
        let inputNames = files.prefix(3).map(\.path).joined(separator: ", ")
            + (files.count > 3 ? " and \(files.count - 3) more" : "")
        // A store without text would replace whatever `output` holds with nothing to train on: refuse first.
        guard (all + held).contains(where: { !$0.text.isEmpty }) else {
            throw DataError.badInput(source: inputNames, reason: "no text in the inputs "
                + "(empty files or JSONL without records); \(output.lastPathComponent) was not written")
        }
        let writer = try TokenStoreWriter(url: output, vocabSize: tokenizer.vocabularySize,
                                          tokenizerSHA256: tokenizerSHA256)
        for file in files + heldOutFiles { writer.addSource(file.lastPathComponent) }
        for d in all + held {
            let ids = tokenizer.encodeLong(d.text)
            try writer.append(document: ids)
            progress(.document(source: d.source, tokens: ids.count, totalTokens: writer.tokenCount))
        }
        guard writer.tokenCount > 0 else {  // text that encodes to no token (the writer discards its file)
            throw DataError.badInput(source: inputNames, reason: "the inputs encode to no token; \(output.lastPathComponent) was not written")
        }
        let split = DocumentSplit.split(documentCount: all.count, validationFraction: validationFraction, seed: seed)
        let validation = (validationFraction > 0 ? split.validation : []) + Array(all.count..<all.count + held.count)
        if !validation.isEmpty { writer.setValidationDocuments(validation) }
        try writer.finish()
        return Summary(documents: writer.documentCount, tokens: writer.tokenCount, validationDocuments: validation.count)
    }
}
