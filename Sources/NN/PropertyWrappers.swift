import Torch

// Property wrappers that attach checkpoint keys to a module's parameters and children. Both are one generic class
// (a reference type) so that `Module` can find them by reflection and swap their values in place (loading weights).
//
// Typical use, mirroring mlx-swift: declare with the key, call `super.init()`, then assign.
//
//     @ModuleInfo(key: "q_proj") public var qProj: Linear
//     @ParameterInfo(key: "weight") public var weight: Tensor
//     init(...) throws { super.init(); qProj = try Linear(...); weight = try Tensor.ones([n]) }

protocol AnyParameterInfo: AnyObject {
    var key: String? { get }
    var tensor: Tensor? { get set }
}

protocol AnyModuleInfo {
    func key(_ label: String) -> String
    /// The wrapped module(s): ("", m) for a single module, ("0", m0), ("1", m1)… for arrays, nothing for nil.
    var modules: [(String, Module)] { get }
}

/// What a `KeyedSlot` declares: a parameter or a child module. The kind is a type, not a stored value, so each
/// wrapper conforms to exactly one of the protocols `Module` looks for.
public protocol KeyedSlotKind {
    /// Names the kind in the message for a read before assignment.
    static var noun: String { get }
}

public enum ParameterSlot: KeyedSlotKind { public static var noun: String { "parameter" } }
public enum ModuleSlot: KeyedSlotKind { public static var noun: String { "module" } }

/// Declares a parameter (`Tensor`, or `Tensor?` for an optional one such as a bias) and its checkpoint key.
public typealias ParameterInfo<Value> = KeyedSlot<Value, ParameterSlot>

/// Declares a child module (`M`, `M?` or `[M]` for a `Module` type `M`) and its checkpoint key.
public typealias ModuleInfo<Value> = KeyedSlot<Value, ModuleSlot>

/// The one implementation behind `ParameterInfo` and `ModuleInfo`: a value assigned after `super.init()` and its
/// checkpoint key.
@propertyWrapper
public final class KeyedSlot<Value, Kind: KeyedSlotKind> {
    public let key: String?
    fileprivate var storage: Value?

    public init(key: String? = nil) { self.key = key }

    public init(wrappedValue: Value, key: String? = nil) {
        self.key = key
        self.storage = wrappedValue
    }

    public var wrappedValue: Value {
        get {
            guard let storage else { preconditionFailure("\(Kind.noun) '\(key ?? "?")' read before it was assigned") }
            return storage
        }
        set { storage = newValue }
    }
}

extension KeyedSlot: AnyParameterInfo where Kind == ParameterSlot {
    var tensor: Tensor? {
        get { storage.flatMap { $0 as? Tensor } }
        set {
            guard let t = newValue, let value = t as? Value else { return }
            storage = value
        }
    }
}

extension KeyedSlot: AnyModuleInfo where Kind == ModuleSlot {
    func key(_ label: String) -> String { key ?? label }

    var modules: [(String, Module)] {
        guard let value = storage else { return [] }
        if let module = value as? Module { return [("", module)] }
        if let list = value as? [Module] { return list.enumerated().map { (String($0.offset), $0.element) } }
        return []
    }
}
