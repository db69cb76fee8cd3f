import Datasets
import Foundation
import Torch

/// A user's folder of documents for `memorag adapt`: every `.txt` and `.md` file below it (hidden files and folders
/// left out), each one document, read as UTF-8, with the evaluation books refused — and its split into training and
/// held-out text by document, so the before/after numbers are measured on text that was never trained on.
public struct DomainCorpus: Sendable {
    public struct Document: Sendable, Equatable {
        /// Path relative to the folder (`notes/a.txt`).
        public var name: String
        public var text: String
    }

    public let directory: URL
    public let documents: [Document]

    public init(directory: URL) throws {
        self.directory = directory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DataError.unreadable(path: directory.path, reason: "not a directory of documents")
        }
        guard let walker = FileManager.default.enumerator(
            at: directory, includingPropertiesForKeys: [.isDirectoryKey], options: [.skipsHiddenFiles])
        else { throw DataError.unreadable(path: directory.path, reason: "cannot list the directory") }
        var files: [URL] = []
        for case let url as URL in walker where ["txt", "md"].contains(url.pathExtension.lowercased()) {
            if (try? url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true { continue }
            files.append(url)
        }
        guard !files.isEmpty else {
            throw DataError.badInput(source: directory.path, reason: "holds no .txt or .md documents to adapt to")
        }
        let root = directory.standardizedFileURL.resolvingSymlinksInPath().path
        documents = try files.map { url -> Document in
            let full = url.standardizedFileURL.resolvingSymlinksInPath().path
            let name = full.hasPrefix(root + "/") ? String(full.dropFirst(root.count + 1)) : url.lastPathComponent
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw DataError.unreadable(path: url.path, reason: "cannot read the file")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw DataError.badInput(source: url.path, reason: "not valid UTF-8 text (convert it, e.g. with iconv)")
            }
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw DataError.badInput(source: url.path, reason: "the file is empty")
            }
            try EvaluationBooks.refuse(text: text, source: url.path)
            return Document(name: name, text: text)
        }.sorted { $0.name < $1.name }
    }

    /// Training and held-out documents. Several documents: a seeded share `fraction` of them (at least one, never
    /// all) is held out whole. One document: its last paragraphs (blank-line separated) holding about `fraction` of
    /// its characters become the held-out document `NAME.held-out`, the rest stays for training.
    public func split(heldOutFraction fraction: Double, seed: UInt64) throws
        -> (training: [Document], heldOut: [Document])
    {
        if documents.count > 1 {
            let split = DocumentSplit.split(documentCount: documents.count, validationFraction: fraction, seed: seed)
            return (split.training.map { documents[$0] }, split.validation.map { documents[$0] })
        }
        let document = documents[0]
        let paragraphs = document.text.components(separatedBy: "\n\n")
            .filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        guard paragraphs.count >= 2 else {
            throw DataError.badInput(source: directory.appendingPathComponent(document.name).path,
                                     reason: "a single document needs at least two paragraphs (blank-line separated) to "
                                         + "hold out its end for evaluation; or add more documents to the folder")
        }
        let total = paragraphs.reduce(0) { $0 + $1.count }
        var cut = paragraphs.count, held = 0
        while cut > 1, Double(held) < fraction * Double(total) {
            cut -= 1
            held += paragraphs[cut].count
        }
        let stem = (document.name as NSString).deletingPathExtension, ext = (document.name as NSString).pathExtension
        return ([Document(name: document.name, text: paragraphs[..<cut].joined(separator: "\n\n") + "\n")],
                [Document(name: "\(stem).held-out.\(ext)", text: paragraphs[cut...].joined(separator: "\n\n") + "\n")])
    }

    /// sha256 of every document (name and bytes): a run dir remembers what it was made from.
    public var fingerprint: String {
        documents.map { "\($0.name)\t\(SHA256.hex($0.text))" }.joined(separator: "\n")
    }
}
