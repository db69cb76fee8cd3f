import Foundation
import Tokenizers
import Torch

/// sha256 of the tokenizer's vocabulary (every id's token string, in id order) and its special-token ids: two
/// tokenizers with the same hash turn text into the same ids.
func tokenizerFingerprint(_ tokenizer: any Tokenizer) -> String {
    var hasher = SHA256()
    for id in 0..<tokenizer.vocabularySize {
        hasher.update(Data((tokenizer.token(for: id) ?? "").utf8))
        hasher.update([0])
    }
    let special = tokenizer.specialTokens
    hasher.update(Data("\(special.bos ?? -1),\(special.eos ?? -1),\(special.extraEOS)".utf8))
    return hasher.finalizeHex()
}

func sha256Hex(_ data: Data) -> String { SHA256.hex(data) }
