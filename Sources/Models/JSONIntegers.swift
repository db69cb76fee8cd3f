/// Integers in config files, read through Double: Foundation's own `Int` decoding reports a value such as `64.5` as
/// "not valid JSON" without naming the key (swift-corelibs), so a user could not tell which entry is wrong.
extension KeyedDecodingContainer {
    /// The integer at `key` (JSON may spell it `64` or `64.0`); a fraction or a huge number is an error naming it.
    func decodeInteger(_ key: Key) throws -> Int {
        guard let value = try decodeIntegerIfPresent(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath + [key], debugDescription: "missing"))
        }
        return value
    }

    func decodeIntegerIfPresent(_ key: Key) throws -> Int? {
        guard let number = try decodeIfPresent(Double.self, forKey: key) else { return nil }
        return try integer(number, key: key)
    }

    /// An array of integers (or nil when absent).
    func decodeIntegersIfPresent(_ key: Key) throws -> [Int]? {
        try decodeIfPresent([Double].self, forKey: key)?.map { try integer($0, key: key) }
    }

    private func integer(_ number: Double, key: Key) throws -> Int {
        guard number.isFinite, number.rounded() == number, abs(number) < 0x1p53 else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription:
                "\(key.stringValue) must be an integer, got \(number)")
        }
        return Int(number)
    }
}
