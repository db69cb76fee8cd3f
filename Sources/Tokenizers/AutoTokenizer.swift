import Foundation

/// Loads the tokenizer in a model directory (`tokenizer.json`, plus `tokenizer_config.json` when present), choosing
/// the implementation from the JSON's `model.type`: "BPE" → `BPETokenizer`, "WordPiece" → `WordPieceTokenizer`.
public func loadTokenizer(directory: URL) throws -> any Tokenizer {
    let file = directory.appendingPathComponent("tokenizer.json")
    let json = try TokenizerJSON.readObject(at: file)
    guard let model = json["model"] as? [String: Any] else {
        throw TokenizerError.invalid(path: file.path, reason: "no \"model\" object")
    }
    let type = model["type"] as? String ?? (model["merges"] != nil ? "BPE" : "unknown")
    switch type {
    case "BPE":
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        let config = FileManager.default.fileExists(atPath: configURL.path)
            ? try TokenizerJSON.readObject(at: configURL) : nil
        return try BPETokenizer(tokenizerJSON: json, config: config, path: file.path)
    case "WordPiece":
        // WordPiece: provided by WordPieceTokenizer.swift
        return try WordPieceTokenizer(tokenizerJSON: json, path: file.path)
    default:
        throw TokenizerError.unsupported(path: file.path, feature: "model type \"\(type)\"")
    }
}
