import Foundation
import Torch

/// A building block of a model: it owns parameters and child modules, each declared on a property together with its
/// checkpoint key (`@ParameterInfo(key: "weight")`, `@ModuleInfo(key: "q_proj")`). Parameter paths are the dotted
/// keys (`model.layers.3.self_attn.q_proj.weight`), so they match Hugging Face checkpoints with no mapping table.
open class Module {
    public init() {}

    /// Child modules in declaration order with their keys; arrays of modules contribute `key.0`, `key.1`, ….
    public func children() -> [(key: String, module: Module)] {
        var result: [(String, Module)] = []
        forEachWrapper { label, wrapper in
            guard let info = wrapper as? AnyModuleInfo else { return }
            for (suffix, module) in info.modules {
                result.append((suffix.isEmpty ? info.key(label) : "\(info.key(label)).\(suffix)", module))
            }
        }
        return result
    }

    /// Parameters owned directly by this module (not its children).
    public func localParameters() -> [(key: String, tensor: Tensor)] {
        var result: [(String, Tensor)] = []
        forEachWrapper { label, wrapper in
            guard let info = wrapper as? AnyParameterInfo, let tensor = info.tensor else { return }
            result.append((info.key ?? label, tensor))
        }
        return result
    }

    /// Every parameter of the tree with its full dotted name, in declaration order.
    public func parameters() -> [(name: String, tensor: Tensor)] {
        var result = localParameters().map { (name: $0.key, tensor: $0.tensor) }
        for (key, child) in children() {
            result += child.parameters().map { (name: "\(key).\($0.name)", tensor: $0.tensor) }
        }
        return result
    }

    /// Where the module's parameters live (the first parameter's device; the CPU for a module without any). A model
    /// overrides it with a cheaper look at one known weight.
    open var device: Device { parameters().first?.tensor.device ?? .cpu }

    /// State a module keeps besides its parameters (packed copies, caches of derived tensors), moved or refused by
    /// `move(to:)`. Default: none.
    open func moveState(to device: Device) throws {}

    /// Parameters that currently record gradients (what an optimizer should update).
    public func trainableParameters() -> [(name: String, tensor: Tensor)] {
        parameters().filter { $0.tensor.requiresGrad }
    }

    /// Replaces parameters by name. With `strict`, every parameter must be given and every given name must exist;
    /// shapes must always agree. Tensors are converted to the dtype and moved to the device of the parameter they
    /// replace (weights read from a file land where the model runs), and keep its `requiresGrad` flag.
    public func update(parameters new: [String: Tensor], strict: Bool = true) throws {
        var remaining = new
        var missing: [String] = []
        try visitParameterSlots(prefix: "") { name, slot in
            guard let current = slot.tensor else { return }  // an absent optional parameter (no bias)
            guard let replacement = remaining.removeValue(forKey: name) else {
                missing.append(name)
                return
            }
            guard replacement.shape == current.shape else {
                throw ModuleError.shapeMismatch(name: name, expected: current.shape, got: replacement.shape)
            }
            let converted = replacement.dtype == current.dtype ? replacement : try replacement.to(current.dtype)
            let value = try withNoGrad { try converted.detach().to(device: current.device) }
            if current.requiresGrad { try value.setRequiresGrad(true) }
            slot.tensor = value
        }
        if strict {
            if !missing.isEmpty { throw ModuleError.missingParameters(missing.sorted()) }
            if !remaining.isEmpty { throw ModuleError.unexpectedParameters(remaining.keys.sorted()) }
        }
    }

    /// Sets `requiresGrad` on every parameter whose full name matches one of the glob patterns (`*` matches any
    /// run of characters, dots included). Returns how many parameters changed state.
    @discardableResult
    public func setTrainable(_ trainable: Bool, matching patterns: [String]) throws -> Int {
        var changed = 0
        for (name, tensor) in parameters() where patterns.contains(where: { globMatch($0, name) }) {
            if tensor.requiresGrad != trainable { changed += 1 }
            try tensor.setRequiresGrad(trainable)
        }
        return changed
    }

    /// Freezes every parameter (no gradients), then unfreezes those matching `patterns`.
    public func trainOnly(_ patterns: [String]) throws {
        try setTrainable(false, matching: ["*"])
        try setTrainable(true, matching: patterns)
    }

    // MARK: - Reflection over the property wrappers

    private func forEachWrapper(_ body: (String, Any) throws -> Void) rethrows {
        var mirror: Mirror? = Mirror(reflecting: self)
        var levels: [Mirror] = []
        while let m = mirror {
            levels.append(m)
            mirror = m.superclassMirror
        }
        // Base-class properties first, so declaration order is stable from the root of the hierarchy.
        for m in levels.reversed() {
            for child in m.children {
                guard var label = child.label else { continue }
                if label.hasPrefix("_") { label.removeFirst() }
                try body(label, child.value)
            }
        }
    }

    func visitParameterSlots(prefix: String, _ body: (String, AnyParameterInfo) throws -> Void) throws {
        try forEachWrapper { label, wrapper in
            if let info = wrapper as? AnyParameterInfo { try body(prefix + (info.key ?? label), info) }
        }
        for (key, child) in children() { try child.visitParameterSlots(prefix: "\(prefix)\(key).", body) }
    }
}

public enum ModuleError: Error, LocalizedError, Equatable {
    case missingParameters([String])
    case unexpectedParameters([String])
    case shapeMismatch(name: String, expected: [Int], got: [Int])

    public var errorDescription: String? {
        switch self {
        case .missingParameters(let names):
            return "missing parameters (\(names.count)): \(names.prefix(10).joined(separator: ", "))"
                + (names.count > 10 ? ", …" : "")
        case .unexpectedParameters(let names):
            return "unexpected parameters (\(names.count)): \(names.prefix(10).joined(separator: ", "))"
                + (names.count > 10 ? ", …" : "")
        case .shapeMismatch(let name, let expected, let got):
            return "parameter \(name): expected shape \(expected), got \(got)"
        }
    }
}

/// Glob matching with `*` (any run, possibly empty) and `?` (one character).
func globMatch(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern), t = Array(text)
    var pi = 0, ti = 0, star = -1, mark = 0
    while ti < t.count {
        if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
            pi += 1
            ti += 1
        } else if pi < p.count, p[pi] == "*" {
            star = pi
            mark = ti
            pi += 1
        } else if star >= 0 {
            pi = star + 1
            mark += 1
            ti = mark
        } else {
            return false
        }
    }
    while pi < p.count, p[pi] == "*" { pi += 1 }
    return pi == p.count
}
