import Foundation
import NN
import Tokenizers
import Torch
#if canImport(Glibc)
import Glibc
#endif

/// What loading a model for inference does after reading its files: the dtype, beacon parameters added to a model
/// that has none, and int8 packing (`DecoderLM.quantizeInt8`).
public struct PreparedModelSettings: Sendable, Equatable {
    public var dtype: DType
    public var int8Weights: Bool
    /// Added (fresh, untrained) to a model without beacon parameters; nil leaves the model as it is.
    public var beacon: BeaconSettings?
    public var device: Device

    public init(dtype: DType, int8Weights: Bool, beacon: BeaconSettings? = nil, device: Device = .cpu) {
        self.dtype = dtype
        self.int8Weights = int8Weights
        self.beacon = beacon
        self.device = device
    }
}

/// Where prepared weights are kept: one safetensors file per model and settings holding what loading made — the
/// final float tensors (GGUF dequantised, delta installed, LoRA folded) and the int8 weights with their scales —
/// plus a small JSON file with the model's fingerprint. A later load maps the file instead of redoing the work.
///
/// Files are named after their key: a hash of the inputs' identity (path, size, mtime, inode and device of every
/// file of the model and of a delta's base) and of the settings, this libtorch and the format version. Any change to
/// an input gives a new key. When files are written, those of an older key for the same model go, as do those of
/// models that are no longer there, and then the least recently used ones beyond `budgetBytes`.
public struct PreparedWeightsCache: Sendable, Equatable {
    /// nil: no prepared weights are read or written (the slow path every time).
    public var directory: URL?
    /// Bytes of prepared weights kept (the most recently used first; the model just written always stays).
    public var budgetBytes: Int

    public init(directory: URL?, budgetBytes: Int = 4 << 30) {
        self.directory = directory
        self.budgetBytes = budgetBytes
    }

    public static let disabled = PreparedWeightsCache(directory: nil)

    /// `MEMORAG_PREPARED_CACHE`: unset or empty — `$MEMORAG_CACHE/prepared` (default `~/.cache/memorag/prepared`);
    /// `0`, `off`, `false` or `no` — off; an absolute path — that dir.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        -> PreparedWeightsCache
    {
        let value = environment["MEMORAG_PREPARED_CACHE"]?.trimmingCharacters(in: .whitespaces) ?? ""
        if ["0", "off", "false", "no"].contains(value.lowercased()) { return .disabled }
        if value.hasPrefix("/") { return PreparedWeightsCache(directory: URL(fileURLWithPath: value)) }
        let cache = environment["MEMORAG_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/memorag").path
        return PreparedWeightsCache(directory: URL(fileURLWithPath: cache).appendingPathComponent("prepared"))
    }
}

/// A model loaded through `LanguageModel.loadPrepared`.
public struct PreparedLoad {
    public enum Route: String, Sendable {
        /// Mapped from prepared weights.
        case prepared
        /// Loaded from the model's own files (and prepared weights written for the next time, where possible).
        case slow
    }

    public let lm: LanguageModel
    /// `lm.model.fingerprint`, computed once per key and then read back.
    public let fingerprint: String
    public let route: Route
    /// The prepared file read or written; nil when none was.
    public let file: URL?
    /// One line each, for the user: why prepared weights could not be used or written.
    public let notices: [String]
    /// Where the time went, in order (e.g. `map`, `check`, `int8 pack`, `tokenizer`; `load`, `int8`, `fingerprint`,
    /// `write` on the slow path).
    public let phases: [(name: String, seconds: Double)]
}

/// Times consecutive phases of a load.
final class PhaseClock {
    private let clock = ContinuousClock()
    private var last: ContinuousClock.Instant
    private(set) var phases: [(name: String, seconds: Double)] = []

    init() { last = clock.now }

    func mark(_ name: String) {
        let now = clock.now
        let elapsed = now - last
        phases.append((name, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18))
        last = now
    }
}

extension LanguageModel {
    /// Loads `path` (as `load(_:dtype:device:)`), adds `settings.beacon` to a model without beacon parameters, packs
    /// int8 weights when asked, and takes the fingerprint — through `cache` where it can: the first time the result
    /// is written there, later loads map it instead (bitwise the same model). Prepared weights that are unreadable,
    /// truncated, of another key or inconsistent with the model are never used: the model is loaded the slow way and
    /// they are written again, with a notice. A cache dir that cannot be written (read-only, full) costs only the
    /// time and a notice.
    public static func loadPrepared(_ path: URL, settings: PreparedModelSettings,
                                    cache: PreparedWeightsCache) throws -> PreparedLoad {
        let phases = PhaseClock()
        // Without a cache dir, or without a key (the slow load then reports what is wrong with the model's files).
        guard let directory = cache.directory, let key = try? PreparedKey(path: path, settings: settings) else {
            let lm = try loadSlowly(path, settings: settings, phases: phases)
            let fingerprint = try lm.model.fingerprint
            phases.mark("fingerprint")
            return PreparedLoad(lm: lm, fingerprint: fingerprint, route: .slow, file: nil, notices: [],
                                phases: phases.phases)
        }
        var notices: [String] = []
        let weightsURL = directory.appendingPathComponent(key.fileStem + ".safetensors")
        let fingerprintURL = directory.appendingPathComponent(key.fileStem + ".json")
        let storedFingerprint = PreparedFiles.readFingerprint(fingerprintURL, key: key)
        phases.mark("key")

        if FileManager.default.fileExists(atPath: weightsURL.path) {
            do {
                // The tokenizer is read (a JSON parse, ~0.1 s for a 49k vocabulary) while the weights are packed.
                let text = TextSideLoad(path)
                let model = try PreparedFiles.read(weightsURL, key: key, settings: settings, phases: phases)
                let (tokenizer, template) = try text.wait()
                phases.mark("tokenizer (waited)")
                let lm = LanguageModel(model: model, tokenizer: tokenizer, chatTemplate: template, source: path)
                let fingerprint: String
                if let storedFingerprint {
                    fingerprint = storedFingerprint
                } else {
                    fingerprint = try model.fingerprint
                    phases.mark("fingerprint")
                    if let failure = PreparedFiles.writeFingerprint(fingerprint, key: key, to: fingerprintURL) {
                        notices.append(failure)
                    }
                }
                PreparedFiles.touch(weightsURL)
                return PreparedLoad(lm: lm, fingerprint: fingerprint, route: .prepared, file: weightsURL, notices: notices,
                                    phases: phases.phases)
            } catch {
                notices.append("prepared weights \(weightsURL.path) are unusable (\(describe(error))); loading "
                    + "\(path.path) the slow way and writing them again")
            }
        }

        let lm = try loadSlowly(path, settings: settings, phases: phases)
        let fingerprint = try storedFingerprint ?? lm.model.fingerprint
        phases.mark("fingerprint")
        var written: URL?
        if let failure = PreparedFiles.write(lm.model, key: key, fingerprint: fingerprint, to: directory,
                                             weights: weightsURL, fingerprintFile: fingerprintURL,
                                             budgetBytes: cache.budgetBytes) {
            notices.append(failure)
        } else {
            written = weightsURL
        }
        phases.mark("write")
        return PreparedLoad(lm: lm, fingerprint: fingerprint, route: .slow, file: written, notices: notices,
                            phases: phases.phases)
    }

    /// What `loadPrepared` does without prepared weights.
    static func loadSlowly(_ path: URL, settings: PreparedModelSettings, phases: PhaseClock) throws -> LanguageModel {
        let lm = try load(path, dtype: settings.dtype, device: settings.device)
        if let beacon = settings.beacon, lm.model.config.beacon == nil { try lm.model.addBeacon(beacon) }
        phases.mark("load")
        if settings.int8Weights {
            try lm.model.quantizeInt8()  // after any beacon parameters were added
            phases.mark("int8")
        }
        return lm
    }
}

/// The tokenizer and chat format of a model path, read on another thread.
private final class TextSideLoad: @unchecked Sendable {
    // @unchecked: `result` is written once by the worker before `done` is signalled, and read only after it.
    private var result: Result<(any Tokenizer, ChatTemplate?), Error>?
    private let done = DispatchSemaphore(value: 0)

    init(_ path: URL) {
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            result = Result { (try LanguageModel.tokenizer(at: path), try LanguageModel.chatTemplate(at: path)) }
            done.signal()
        }
    }

    func wait() throws -> (any Tokenizer, ChatTemplate?) {
        done.wait()
        return try result!.get()
    }
}

private func describe(_ error: Error) -> String {
    (error as? LocalizedError)?.errorDescription ?? String(describing: error)
}

/// Why prepared weights were not used.
struct PreparedWeightsError: Error, LocalizedError {
    let reason: String
    init(_ reason: String) { self.reason = reason }
    var errorDescription: String? { reason }
}

/// The identity of what a prepared file was made from.
struct PreparedKey {
    static let formatVersion = 1

    /// sha256 of `identity`.
    let hex: String
    /// Names the model and settings (not the files' state): files of an older key share it.
    let stem: String
    /// The text hashed: one line per input file, then the settings.
    let identity: String
    /// The model path.
    let source: String

    var fileStem: String { "\(stem)-\(hex.prefix(24))" }

    init(path: URL, settings: PreparedModelSettings) throws {
        let files = try Self.inputFiles(path).map(\.standardizedFileURL.path)
        var lines = try Set(files).sorted().map(Self.fileLine)
        let beacon = try settings.beacon.map { settings -> String in
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return String(decoding: try encoder.encode(settings), as: UTF8.self)
        } ?? "none"
        let settingsLine = "format=\(Self.formatVersion) dtype=\(settings.dtype) int8=\(settings.int8Weights) "
            + "reduce_range=\(!Int8Linear.cpuHasVNNI) device=\(settings.device) libtorch=\(LibTorch.version) beacon=\(beacon)"
        lines.append(settingsLine)
        identity = lines.joined(separator: "\n")
        source = path.standardizedFileURL.path
        hex = SHA256.hex(Data(identity.utf8))
        stem = String(SHA256.hex(Data((path.standardizedFileURL.path + "\n" + settingsLine).utf8)).prefix(16))
    }

    /// Every file a load of `path` reads: a GGUF file; every file of a model dir (config, weights, tokenizer); for a
    /// beacon delta, its own files and its base's.
    static func inputFiles(_ path: URL) throws -> [URL] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
            throw PreparedWeightsError("\(path.path) does not exist")
        }
        guard isDirectory.boolValue else { return [path] }
        let files = try FileManager.default.contentsOfDirectory(at: path, includingPropertiesForKeys: [.isRegularFileKey])
            .filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
        guard let delta = try BeaconDelta.manifest(in: path) else { return files }
        let base = try BeaconDelta.locateBase(delta, modelsDirectory: LanguageModel.modelsDirectory, delta: path)
        return files + (try inputFiles(base))
    }

    static func fileLine(_ path: String) throws -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { throw PreparedWeightsError("cannot stat \(path)") }
        return "\(path)\tsize=\(info.st_size)\tmtime=\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
            + "\tinode=\(info.st_ino)\tdevice=\(info.st_dev)"
    }
}

/// Reading and writing the prepared files.
enum PreparedFiles {
    static let format = "memorag.prepared-weights"
    static let fingerprintFormat = "memorag.prepared-fingerprint"
    /// Stored int8 weights: `int8.<slot>.weight` (int8 [out, in]), `.scales` (float64 [out]), `.bias` (float32).
    static let int8Prefix = "int8."

    // MARK: reading

    /// The model a prepared file holds, checked against `key` and `settings` (header, metadata, every tensor's name,
    /// dtype and shape, and a hash of samples of every tensor's bytes) before anything is built from it.
    static func read(_ url: URL, key: PreparedKey, settings: PreparedModelSettings, phases: PhaseClock) throws
        -> DecoderLM
    {
        let file = try SafetensorsFile(url: url, mapping: .copyOnWrite)
        phases.mark("map")
        let meta = file.metadata
        guard meta["format"] == format else { throw PreparedWeightsError("not a prepared-weights file") }
        guard meta["version"] == String(PreparedKey.formatVersion) else {
            throw PreparedWeightsError("format version \(meta["version"] ?? "none"), expected \(PreparedKey.formatVersion)")
        }
        guard meta["key"] == key.hex else { throw PreparedWeightsError("made from other inputs or settings (key differs)") }
        guard meta["sample_hash"] == (try sampleHash(of: file)) else {
            throw PreparedWeightsError("its tensor data does not match its checksum")
        }
        phases.mark("check")
        let config: DecoderConfig
        do {
            config = try JSONDecoder().decode(DecoderConfig.self, from: Data((meta["config"] ?? "").utf8))
        } catch {
            throw PreparedWeightsError("its config does not decode (\(describe(error)))")
        }
        guard (config.beacon != nil) || settings.beacon == nil else { throw PreparedWeightsError("it has no beacon parameters") }

        let model = try DecoderLM.uninitialized(config: config, dtype: settings.dtype)
        phases.mark("build")
        var weights: [String: Tensor] = [:]
        for (name, tensor) in model.parameters() {
            guard let entry = file.entry(name) else { throw PreparedWeightsError("tensor \(name) is missing") }
            guard entry.dtype == settings.dtype, entry.shape == tensor.shape else {
                throw PreparedWeightsError("tensor \(name) is \(entry.dtype) \(entry.shape), expected \(settings.dtype) "
                    + "\(tensor.shape)")
            }
            weights[name] = try file.mappedTensor(name)
        }
        var int8Names = Set<String>()
        var parts: [Int8Linear.Parts] = []
        let layout = settings.int8Weights ? model.int8Layout() : []
        if settings.int8Weights {
            guard meta["int8_reduce_range"] == String(!Int8Linear.cpuHasVNNI) else {
                throw PreparedWeightsError("its int8 weights were packed for another CPU")
            }
            for slot in layout {
                func take(_ suffix: String, _ dtype: DType, _ shape: [Int]) throws -> Tensor {
                    let name = int8Prefix + slot.name + suffix
                    guard let entry = file.entry(name), entry.dtype == dtype, entry.shape == shape else {
                        throw PreparedWeightsError("int8 tensor \(name) is missing or not \(dtype) \(shape)")
                    }
                    int8Names.insert(name)
                    return try file.mappedTensor(name)
                }
                parts.append(Int8Linear.Parts(weight: try take(".weight", .int8, slot.shape),
                                              scales: try take(".scales", .float64, [slot.shape[0]]),
                                              bias: slot.hasBias ? try take(".bias", .float32, [slot.shape[0]]) : nil))
            }
        }
        if let stray = file.names.first(where: { weights[$0] == nil && !int8Names.contains($0) }) {
            throw PreparedWeightsError("tensor \(stray) has no place in the model")
        }
        do {
            try model.update(parameters: weights, strict: true)
        } catch {
            throw PreparedWeightsError(describe(error))
        }
        phases.mark("install")
        if settings.int8Weights {
            let packed = try Int8Linear.pack(parts, reduceRange: !Int8Linear.cpuHasVNNI)
            try model.useInt8(Dictionary(uniqueKeysWithValues: zip(layout.map(\.name), packed)))
            phases.mark("int8 pack")
        }
        if settings.device != .cpu { try model.move(to: settings.device) }
        return model
    }

    /// sha256 over every tensor's name, dtype, shape and about 17 elements spread over its bytes: catches a file
    /// whose data was cut or overwritten in places (zeros after a crash, another file's bytes) without reading it
    /// all. Not a full checksum: one flipped bit inside a tensor goes unseen, as in any model file.
    static func sampleHash(of file: SafetensorsFile) throws -> String {
        var hasher = SHA256()
        for name in file.names.sorted() {
            guard let entry = file.entry(name) else { continue }
            hasher.update("\(name) \(entry.dtype.safetensorsName) \(entry.shape)\n")
            let size = entry.dtype.byteSize, count = entry.elementCount
            try file.withBytes(of: name) { bytes in
                for index in stride(from: 0, to: count, by: sampleStep(count)) {
                    hasher.update(UnsafeRawBufferPointer(rebasing: bytes[index * size..<(index + 1) * size]))
                }
            }
        }
        return hasher.finalizeHex()
    }

    /// The same hash over tensors about to be written (samples taken by libtorch, so nothing is copied whole).
    static func sampleHash(of tensors: [(name: String, tensor: Tensor)]) throws -> String {
        var hasher = SHA256()
        for (name, tensor) in tensors.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
            hasher.update("\(name) \(tensor.dtype.safetensorsName) \(tensor.shape)\n")
            let count = tensor.count
            guard count > 0 else { continue }
            let samples = try withNoGrad {
                try tensor.detach().reshape(-1).slice(dim: 0, start: 0, end: count, step: sampleStep(count)).bytes()
            }
            hasher.update(samples)
        }
        return hasher.finalizeHex()
    }

    static func sampleStep(_ count: Int) -> Int { max(1, count / 16) }

    static func readFingerprint(_ url: URL, key: PreparedKey) -> String? {
        guard let data = FileManager.default.contents(atPath: url.path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              object["format"] as? String == fingerprintFormat, object["key"] as? String == key.hex,
              let fingerprint = object["fingerprint"] as? String, fingerprint.count == 32,
              fingerprint.allSatisfy(\.isHexDigit)
        else { return nil }
        return fingerprint
    }

    // MARK: writing

    /// Writes the fingerprint file; a one-line notice when it fails.
    static func writeFingerprint(_ fingerprint: String, key: PreparedKey, to url: URL) -> String? {
        do {
            try storeFingerprint(fingerprint, key: key, to: url)
            return nil
        } catch {
            return "could not write the model fingerprint to \(url.deletingLastPathComponent().path) "
                + "(\(describe(error))); the next start computes it again"
        }
    }

    static func storeFingerprint(_ fingerprint: String, key: PreparedKey, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let object = ["format": fingerprintFormat, "key": key.hex, "fingerprint": fingerprint, "source": key.source]
        try DurableFile.write(try JSONSerialization.data(withJSONObject: object, options: .sortedKeys), to: url)
    }

    /// Writes `model`'s prepared weights and fingerprint (atomically), then removes older files; a one-line notice
    /// when they cannot be written.
    static func write(_ model: DecoderLM, key: PreparedKey, fingerprint: String, to directory: URL, weights url: URL,
                      fingerprintFile: URL, budgetBytes: Int) -> String? {
        let failure = { (reason: String) in
            "could not write prepared weights to \(directory.path) (\(reason)); the next start loads the slow way again"
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            return failure(describe(error))
        }
        do {
            try storeFingerprint(fingerprint, key: key, to: fingerprintFile)
        } catch {
            return failure(describe(error))
        }
        do {
            let config = model.config
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys  // the same model writes the same bytes
            let encoded = String(decoding: try encoder.encode(config), as: UTF8.self)
            guard try JSONDecoder().decode(DecoderConfig.self, from: Data(encoded.utf8)) == config else {
                return failure("the model's config does not survive a JSON round trip")
            }
            var tensors: [(name: String, tensor: Tensor)] = model.parameters().map { ($0.name, $0.tensor) }
            for (name, packed) in model.int8Weights() {
                let parts = try packed.parts()
                tensors.append((int8Prefix + name + ".weight", parts.weight))
                tensors.append((int8Prefix + name + ".scales", parts.scales))
                if let bias = parts.bias { tensors.append((int8Prefix + name + ".bias", bias)) }
            }
            let bytes = tensors.reduce(0) { $0 + $1.tensor.count * $1.tensor.dtype.byteSize }
            if let available = availableBytes(directory), available < bytes + 256 << 20 {
                return failure("\(bytes >> 20) MiB needed, \(available >> 20) MiB free")
            }
            var metadata = ["format": format, "version": String(PreparedKey.formatVersion), "key": key.hex,
                            "config": encoded, "dtype": model.dtype.safetensorsName,
                            "int8_reduce_range": String(!Int8Linear.cpuHasVNNI), "libtorch": LibTorch.version,
                            "identity": key.identity]
            metadata["sample_hash"] = try sampleHash(of: tensors)
            try SafetensorsWriter.write(streaming: tensors.map { name, tensor in
                SafetensorsWriter.StreamedTensor(name: name, dtype: tensor.dtype, shape: tensor.shape) { sink in
                    try tensor.bytes().withUnsafeBytes { try sink($0) }
                }
            }, metadata: metadata, to: url)
        } catch {
            return failure(describe(error))
        }
        prune(directory, writing: key, budgetBytes: budgetBytes)
        return nil
    }

    /// Removes the files of older keys of the same model and settings, those of models whose path is gone (a
    /// temporary model dir, say), and then the least recently used beyond `budgetBytes` in all. The files of `key`
    /// stay. Best effort.
    static func prune(_ directory: URL, writing key: PreparedKey, budgetBytes: Int) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory.path) else { return }
        var kept: [(stem: String, date: Date, bytes: Int)] = []
        // Temporary files of writers that died (`.NAME.tmp-PID`, see AtomicFileWriter): hundreds of MB each.
        for name in names where name.hasPrefix(".") {
            guard let pid = name.components(separatedBy: ".tmp-").last.flatMap({ Int32($0) }), pid != getpid(),
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? fm.removeItem(at: directory.appendingPathComponent(name))
        }
        for name in names where name.hasSuffix(".safetensors") && !name.hasPrefix(".") {
            let stem = String(name.dropLast(".safetensors".count))
            guard stem != key.fileStem else { continue }
            if stem.hasPrefix(key.stem + "-") || sourceIsGone(directory.appendingPathComponent(stem + ".json")) {
                remove(stem, in: directory)
                continue
            }
            let attributes = try? fm.attributesOfItem(atPath: directory.appendingPathComponent(name).path)
            kept.append((stem, attributes?[.modificationDate] as? Date ?? .distantPast,
                         (attributes?[.size] as? NSNumber)?.intValue ?? 0))
        }
        let own = (try? fm.attributesOfItem(atPath: directory.appendingPathComponent(key.fileStem + ".safetensors").path))?[.size]
        var total = (own as? NSNumber)?.intValue ?? 0
        for file in kept.sorted(by: { $0.date > $1.date }) {
            total += file.bytes
            if total > budgetBytes { remove(file.stem, in: directory) }
        }
    }

    /// Whether a fingerprint file names a model path that no longer exists.
    private static func sourceIsGone(_ url: URL) -> Bool {
        guard let data = FileManager.default.contents(atPath: url.path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let source = object["source"] as? String else { return false }
        return !FileManager.default.fileExists(atPath: source)
    }

    private static func remove(_ stem: String, in directory: URL) {
        for suffix in [".safetensors", ".json"] {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(stem + suffix))
        }
    }

    /// Marks a prepared file as used now (least recently used files are pruned first). Best effort.
    static func touch(_ url: URL) {
        _ = utimes(url.path, nil)
    }

    static func availableBytes(_ directory: URL) -> Int? {
        var info = statvfs()
        guard statvfs(directory.path, &info) == 0 else { return nil }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }
}
