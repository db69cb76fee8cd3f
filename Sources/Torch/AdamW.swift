import CTorch
import Foundation

/// AdamW with decoupled weight decay, the arithmetic of `torch.optim.AdamW` (single-tensor path, no amsgrad; equal to
/// float32 rounding): the update for all parameters is one shim call, one pass over each parameter's buffers. Its
/// state (moments and per-parameter step counts) saves to a safetensors file and restores exactly, so a resumed run
/// continues bitwise like an uninterrupted one.
public final class AdamW {
    public struct Hyperparameters: Codable, Sendable, Equatable {
        public var learningRate: Double
        public var beta1: Double
        public var beta2: Double
        public var eps: Double
        public var weightDecay: Double

        /// PyTorch's defaults.
        public init(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8,
                    weightDecay: Double = 0.01) {
            self.learningRate = learningRate
            self.beta1 = beta1
            self.beta2 = beta2
            self.eps = eps
            self.weightDecay = weightDecay
        }
    }

    public var hyperparameters: Hyperparameters
    /// The rate for the next step (schedules set this before each step).
    public var learningRate: Double {
        get { hyperparameters.learningRate }
        set { hyperparameters.learningRate = newValue }
    }
    public let names: [String]
    private let parameters: [Tensor]
    /// Parameters excluded from weight decay (typically norms and biases) form a second group with decay 0.
    private let decayed: [Bool]
    private var expAvg: [Tensor]
    private var expAvgSq: [Tensor]
    private var steps: [Int64]

    public static let stateFormat = "memorag.adamw"
    public static let stateVersion = "1"

    /// - Parameter noDecay: names of parameters that get no weight decay.
    public init(parameters: [(name: String, tensor: Tensor)], hyperparameters: Hyperparameters = .init(),
                noDecay: (String) -> Bool = { _ in false }) throws {
        guard Set(parameters.map(\.name)).count == parameters.count else { throw TorchError("AdamW: duplicate parameter names") }
        self.hyperparameters = hyperparameters
        self.names = parameters.map(\.name)
        self.parameters = parameters.map(\.tensor)
        self.decayed = parameters.map { !noDecay($0.name) }
        // Moments live beside their parameter (its dtype, its device).
        self.expAvg = try parameters.map {
            try Tensor.zeros($0.tensor.shape, dtype: $0.tensor.dtype, device: $0.tensor.device)
        }
        self.expAvgSq = try parameters.map {
            try Tensor.zeros($0.tensor.shape, dtype: $0.tensor.dtype, device: $0.tensor.device)
        }
        self.steps = Array(repeating: 0, count: parameters.count)
    }

    /// Updates every parameter that has a gradient; parameters without one are skipped (their step count too).
    /// Each gradient counts multiplied by `gradScale` (a token mean, a clipping coefficient), without a pass that
    /// rewrites it.
    public func step(gradScale: Double = 1) throws {
        let h = hyperparameters
        for decay in [true, false] {
            let group = decayed.indices.filter { decayed[$0] == decay }
            guard !group.isEmpty else { continue }
            var groupSteps = group.map { steps[$0] }
            try withHandles(group.map { parameters[$0] }) { ps, n in
                try withHandles(group.map { expAvg[$0] }) { ms, _ in
                    try withHandles(group.map { expAvgSq[$0] }) { vs, _ in
                        try check(mr_adamw_step(ps, ms, vs, &groupSteps, n, h.learningRate, h.beta1, h.beta2, h.eps,
                                                decay ? h.weightDecay : 0, gradScale))
                    }
                }
            }
            for (i, index) in group.enumerated() { steps[index] = groupSteps[i] }
        }
    }

    public func zeroGrad(setToNone: Bool = true) throws {
        for p in parameters { try p.zeroGrad(setToNone: setToNone) }
    }

    /// Steps taken by each parameter, by name.
    public var stepCounts: [String: Int] {
        Dictionary(uniqueKeysWithValues: zip(names, steps.map { Int($0) }))
    }

    // MARK: - State

    /// Writes the moments and step counts (and the hyperparameters, for reference) to a safetensors file.
    public func save(to url: URL) throws {
        var tensors: [String: Tensor] = [:]
        for (i, name) in names.enumerated() {
            tensors["exp_avg.\(name)"] = expAvg[i]
            tensors["exp_avg_sq.\(name)"] = expAvgSq[i]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let metadata = [
            "format": Self.stateFormat, "version": Self.stateVersion,
            "steps": String(decoding: try encoder.encode(stepCounts), as: UTF8.self),
            "hyperparameters": String(decoding: try encoder.encode(hyperparameters), as: UTF8.self),
        ]
        try Safetensors.save(tensors, metadata: metadata, to: url)
    }

    /// Restores moments and step counts saved by `save(to:)` for the same parameter set; the hyperparameters are
    /// kept as configured (a resumed run may change them on purpose).
    public func load(from url: URL) throws {
        let file = try SafetensorsFile(url: url)
        let path = url.path
        guard file.metadata["format"] == Self.stateFormat else {
            throw TorchError("\(path): not an AdamW state file (format '\(file.metadata["format"] ?? "none")')")
        }
        guard file.metadata["version"] == Self.stateVersion else {
            throw TorchError("\(path): AdamW state version '\(file.metadata["version"] ?? "none")' (expected \(Self.stateVersion))")
        }
        guard let stepsJSON = file.metadata["steps"],
              let saved = try? JSONDecoder().decode([String: Int].self, from: Data(stepsJSON.utf8))
        else { throw TorchError("\(path): AdamW state has no readable step counts") }
        let expected = Set(names), found = Set(saved.keys)
        guard expected == found else {
            let missing = expected.subtracting(found).sorted(), extra = found.subtracting(expected).sorted()
            throw TorchError("\(path): AdamW state is for other parameters (missing: \(missing.prefix(5)), unexpected: \(extra.prefix(5)))")
        }
        // Load everything first, then commit, so a bad file leaves the optimizer untouched.
        var newAvg: [Tensor] = [], newAvgSq: [Tensor] = []
        for (i, name) in names.enumerated() {
            for (key, list) in [("exp_avg.\(name)", 0), ("exp_avg_sq.\(name)", 1)] {
                let t = try file.tensor(key)
                guard t.shape == parameters[i].shape, t.dtype == parameters[i].dtype else {
                    throw TorchError("\(path): \(key) is \(t.dtype) \(t.shape) but the parameter is \(parameters[i].dtype) \(parameters[i].shape)")
                }
                // Saved from any device into host memory; restored beside the parameter.
                let placed = try t.to(device: parameters[i].device)
                if list == 0 { newAvg.append(placed) } else { newAvgSq.append(placed) }
            }
        }
        expAvg = newAvg
        expAvgSq = newAvgSq
        steps = names.map { Int64(saved[$0]!) }
    }
}
