import Torch

extension Module {
    /// Moves the whole tree to `device` in place: each module's other state first (`moveState`, so that a module
    /// refusing the device — int8 weights — leaves every parameter where it was), then every parameter (a tensor
    /// shared by several slots stays one tensor). Parameters keep their `requiresGrad`; the moved ones are new
    /// leaves, so an optimizer must be made after the move.
    public func move(to device: Device) throws {
        try visitModules { try $0.moveState(to: device) }
        var moved: [ObjectIdentifier: Tensor] = [:]
        try visitParameterSlots(prefix: "") { _, slot in
            guard let current = slot.tensor, current.device != device else { return }
            if let done = moved[ObjectIdentifier(current)] {
                slot.tensor = done
                return
            }
            let value = try withNoGrad { try current.detach().to(device: device) }
            if current.requiresGrad { try value.setRequiresGrad(true) }
            moved[ObjectIdentifier(current)] = value
            slot.tensor = value
        }
    }

    /// This module and every descendant, parents first.
    func visitModules(_ body: (Module) throws -> Void) throws {
        try body(self)
        for (_, child) in children() { try child.visitModules(body) }
    }
}

/// Packed int8 weights are fbgemm's, in host memory: a module holding them stays on the CPU.
func refuseInt8Move(_ hasInt8: Bool, to device: Device) throws {
    guard hasInt8, device != .cpu else { return }
    throw TorchError("int8 weights run on the CPU only (fbgemm), not on \(device); use fp32 or bf16 there")
}
