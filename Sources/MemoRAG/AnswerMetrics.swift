import Foundation

/// LongBench-style answer scores. English text is normalised as LongBench's `normalize_answer` does (lower case,
/// punctuation and the articles a/an/the removed, whitespace collapsed) and split on whitespace; CJK ideographs
/// count one token each (LongBench segments Chinese with jieba, which we do not ship, so Chinese scores are
/// character-level).
public enum AnswerMetrics {
    /// Token-level F1 between a prediction and one reference.
    public static func f1(_ prediction: String, _ reference: String) -> Double {
        let p = tokens(prediction)
        let r = tokens(reference)
        guard !p.isEmpty, !r.isEmpty else { return p.isEmpty && r.isEmpty ? 1 : 0 }
        var counts: [String: Int] = [:]
        for t in r { counts[t, default: 0] += 1 }
        var common = 0
        for t in p where counts[t, default: 0] > 0 {
            counts[t]! -= 1
            common += 1
        }
        guard common > 0 else { return 0 }
        let precision = Double(common) / Double(p.count)
        let recall = Double(common) / Double(r.count)
        return 2 * precision * recall / (precision + recall)
    }

    /// ROUGE-L F1: the longest common token subsequence relative to both lengths.
    public static func rougeL(_ prediction: String, _ reference: String) -> Double {
        let p = tokens(prediction)
        let r = tokens(reference)
        guard !p.isEmpty, !r.isEmpty else { return p.isEmpty && r.isEmpty ? 1 : 0 }
        var previous = [Int](repeating: 0, count: r.count + 1)
        var current = previous
        for a in p {
            for (j, b) in r.enumerated() {
                current[j + 1] = a == b ? previous[j] + 1 : max(previous[j + 1], current[j])
            }
            swap(&previous, &current)
        }
        let lcs = Double(previous[r.count])
        guard lcs > 0 else { return 0 }
        let precision = lcs / Double(p.count)
        let recall = lcs / Double(r.count)
        return 2 * precision * recall / (precision + recall)
    }

    /// The best score over several acceptable references (LongBench takes the maximum).
    public static func best(_ prediction: String, references: [String],
                            _ metric: (String, String) -> Double) -> Double {
        references.map { metric(prediction, $0) }.max() ?? 0
    }

    /// The best token F1 that any run of at most `maxWords` consecutive words of one of `passages` scores against
    /// `references`: what a reader that copies from the evidence could reach. Set beside the answers' F1, it tells a
    /// reader that misses an answer it was given from evidence that never held one.
    public static func bestSpanF1(in passages: [String], references: [String], maxWords: Int = 8) -> Double {
        var best = 0.0
        for passage in passages {
            let words = passage.split(whereSeparator: \.isWhitespace)
            for start in words.indices {
                for end in (start + 1)...min(words.count, start + max(1, maxWords)) {
                    best = max(best, Self.best(words[start..<end].joined(separator: " "), references: references, f1))
                    if best == 1 { return 1 }
                }
            }
        }
        return best
    }

    static func tokens(_ text: String) -> [String] {
        var words: [String] = []
        var word = ""
        func flush() {
            if !word.isEmpty, !["a", "an", "the"].contains(word) { words.append(word) }
            word = ""
        }
        for scalar in text.lowercased().unicodeScalars {
            if isIdeograph(scalar) {
                flush()
                words.append(String(scalar))
            } else if scalar.properties.isWhitespace {
                flush()
            } else if CharacterSet.punctuationCharacters.contains(scalar) || CharacterSet.symbols.contains(scalar) {
                continue  // LongBench deletes punctuation inside words ("don't" → "dont")
            } else {
                word.unicodeScalars.append(scalar)
            }
        }
        flush()
        return words
    }

    private static func isIdeograph(_ s: Unicode.Scalar) -> Bool {
        (0x4E00...0x9FFF).contains(s.value) || (0x3400...0x4DBF).contains(s.value) || (0xF900...0xFAFF).contains(s.value)
    }
}

/// The share of a question's gold passages found in retrieved passages. A gold passage counts as found when a
/// retrieved passage holds it (case and spacing ignored), or holds an unbroken run of at least half its words
/// (punctuation ignored): a quote cut in two by a passage boundary is found by either half. Scattered shared words
/// never count — half the words of a quote are often function words that any long passage contains.
public enum EvidenceRecall {
    public static func recall(gold: [String], found: [Evidence]) -> Double {
        guard !gold.isEmpty else { return 1 }
        return Double(isFound(gold, in: found).filter { $0 }.count) / Double(gold.count)
    }

    /// Whether each of `gold` is found in `passages`, by the measure above.
    public static func isFound(_ gold: [String], in passages: [Evidence]) -> [Bool] {
        let retrieved = passages.map { (text: normalise($0.text), words: AnswerMetrics.tokens($0.text)) }
        return gold.map { passage in
            let g = normalise(passage)
            let words = AnswerMetrics.tokens(passage)
            return retrieved.contains { $0.text.contains(g) }
                || retrieved.contains { !words.isEmpty && 2 * longestCommonRun(words, $0.words) >= words.count }
        }
    }

    static func normalise(_ text: String) -> String {
        text.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// The length of the longest run of consecutive words that `a` and `b` share.
    static func longestCommonRun(_ a: [String], _ b: [String]) -> Int {
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        var previous = [Int](repeating: 0, count: b.count + 1)
        var best = 0
        for i in 1...a.count {
            var current = [Int](repeating: 0, count: b.count + 1)
            for j in 1...b.count where a[i - 1] == b[j - 1] {
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
            }
            previous = current
        }
        return best
    }
}
