import Foundation

/// The recipe files of a directory (`recipes/`): names, the description on each file's first line, and copying one
/// out to edit (`memorag recipes`, `memorag recipes copy NAME DEST`).
public struct RecipeCatalog: Sendable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var url: URL
        /// The first line without its `# `: the command that runs the recipe and what it is for.
        public var description: String
    }

    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    public func entries() throws -> [Entry] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw RecipeError.unreadable(path: directory.path, reason: "cannot list recipes (\(error.localizedDescription))")
        }
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { file in
            let url = directory.appendingPathComponent(file)
            let first = (try? String(contentsOf: url, encoding: .utf8))?.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
            let description = first.hasPrefix("#") ? first.dropFirst().trimmingCharacters(in: .whitespaces) : ""
            return Entry(name: String(file.dropLast(5)), url: url, description: description)
        }
    }

    /// Copies recipe `name` (with or without `.yaml`) to `destination` (a file, or a directory to put it in); an
    /// existing file is not overwritten. Returns the written file.
    @discardableResult
    public func copy(_ name: String, to destination: URL) throws -> URL {
        let base = name.hasSuffix(".yaml") ? String(name.dropLast(5)) : name
        guard let entry = try entries().first(where: { $0.name == base }) else {
            let known = (try? entries().map(\.name)) ?? []
            throw RecipeError.unknownRecipe(name: name, directory: directory.path, known: known)
        }
        var isDirectory: ObjCBool = false
        let target = FileManager.default.fileExists(atPath: destination.path, isDirectory: &isDirectory) && isDirectory.boolValue
            ? destination.appendingPathComponent(entry.url.lastPathComponent) : destination
        guard !FileManager.default.fileExists(atPath: target.path) else {
            throw RecipeError.unreadable(path: target.path, reason: "already exists; not overwriting")
        }
        try FileManager.default.copyItem(at: entry.url, to: target)
        return target
    }
}
