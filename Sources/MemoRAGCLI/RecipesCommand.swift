import ArgumentParser
import Foundation
import Training

/// `memorag recipes`: the bundled recipes with their descriptions; `memorag recipes copy NAME DEST` to edit one.
struct RecipesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recipes", abstract: "List the training recipes, or copy one to edit.",
        subcommands: [RecipesList.self, RecipesCopy.self], defaultSubcommand: RecipesList.self)

    /// --dir, else $MEMORAG_RECIPES, else ./recipes, else the checkout's recipes/.
    static func directory(_ option: String?) -> URL {
        if let option { return URL(fileURLWithPath: option) }
        if let env = ProcessInfo.processInfo.environment["MEMORAG_RECIPES"] { return URL(fileURLWithPath: env) }
        let local = URL(fileURLWithPath: "recipes")
        if FileManager.default.fileExists(atPath: local.path) { return local }
        return PeerEnvironment.root.appendingPathComponent("recipes")
    }
}

struct RecipesList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the recipes.")
    @Option(help: "Recipe directory.") var dir: String?

    func run() throws {
        let catalog = RecipeCatalog(directory: RecipesCommand.directory(dir))
        for entry in try catalog.entries() {
            print(entry.name.padding(toLength: 18, withPad: " ", startingAt: 0) + entry.description)
        }
    }
}

struct RecipesCopy: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "copy", abstract: "Copy a recipe to a file or directory.")
    @Argument(help: "Recipe name (e.g. sft).") var name: String
    @Argument(help: "Destination file or directory.") var destination: String
    @Option(help: "Recipe directory.") var dir: String?

    func run() throws {
        let written = try RecipeCatalog(directory: RecipesCommand.directory(dir)).copy(name, to: URL(fileURLWithPath: destination))
        print("wrote \(written.path)")
    }
}
