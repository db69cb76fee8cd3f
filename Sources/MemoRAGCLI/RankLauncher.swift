import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `memorag train --nproc-per-node N …`: torchrun's single-machine job, done by us. Spawns N copies of this binary
/// as ranks 0…N−1 with the variables torchrun sets (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `LOCAL_WORLD_SIZE`,
/// `MASTER_ADDR=127.0.0.1`, `MASTER_PORT` = a free loopback port), splits the cores between them, prefixes every
/// line they print with its rank, forwards SIGINT/SIGTERM, and exits non-zero when any rank fails: the first failure
/// is reported, the others get `grace` to stop on their own (they notice the lost peer in their next collective),
/// then SIGTERM, then SIGKILL.
struct RankLauncher {
    let ranks: Int
    /// The `train` arguments every rank runs (without `--nproc-per-node`).
    let arguments: [String]
    let threadsPerRank: Int
    var grace: Duration = .seconds(20)

    private final class Output: @unchecked Sendable {
        private let lock = NSLock()
        func write(_ line: String, to handle: FileHandle) {
            lock.lock()
            defer { lock.unlock() }
            handle.write(Data(line.utf8))
        }
    }

    /// Runs the ranks to the end; returns the exit status for this process.
    func run() throws -> Int32 {
        let port = try Self.freeLoopbackPort()
        let output = Output()
        var environment = ProcessInfo.processInfo.environment
        environment["MASTER_ADDR"] = "127.0.0.1"
        environment["MASTER_PORT"] = String(port)
        environment["WORLD_SIZE"] = String(ranks)
        environment["LOCAL_WORLD_SIZE"] = String(ranks)
        environment["OMP_NUM_THREADS"] = String(threadsPerRank)
        output.write("launcher: \(ranks) ranks × \(threadsPerRank) thread(s), rendezvous on 127.0.0.1:\(port)\n",
                     to: .standardOutput)

        var processes: [Process] = []
        let drained = DispatchGroup()
        for rank in 0..<ranks {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
            process.arguments = ["train"] + arguments
            var rankEnvironment = environment
            rankEnvironment["RANK"] = String(rank)
            rankEnvironment["LOCAL_RANK"] = String(rank)
            process.environment = rankEnvironment
            for (pipe, destination) in [(Pipe(), FileHandle.standardOutput), (Pipe(), FileHandle.standardError)] {
                Self.prefixLines(of: pipe, with: "[rank \(rank)] ", into: destination, output: output, drained: drained)
                if destination === FileHandle.standardOutput { process.standardOutput = pipe } else { process.standardError = pipe }
            }
            try process.run()
            processes.append(process)
        }
        let forwarding = Self.forwardSignals(to: processes)
        defer { forwarding.forEach { $0.cancel() } }

        var firstFailure: (rank: Int, status: Int32)?
        var failedAt: ContinuousClock.Instant?
        var terminated = false
        while processes.contains(where: \.isRunning) {
            Thread.sleep(forTimeInterval: 0.05)
            if firstFailure == nil, let rank = processes.indices.first(where: { !processes[$0].isRunning && Self.failed(processes[$0]) }) {
                let process = processes[rank]
                firstFailure = (rank, process.terminationStatus)
                failedAt = .now
                output.write("launcher: rank \(rank) (pid \(process.processIdentifier)) \(Self.describe(process)); "
                             + "stopping the other ranks\n", to: .standardError)
            }
            if let failedAt, ContinuousClock.now - failedAt > grace {
                for process in processes where process.isRunning {
                    kill(process.processIdentifier, terminated ? SIGKILL : SIGTERM)
                }
                if terminated { break }
                terminated = true
                self.waitBriefly(processes, for: .seconds(5))
            }
        }
        for process in processes { process.waitUntilExit() }
        // What the ranks printed last is still in the pipes.
        _ = drained.wait(timeout: .now() + 5)
        if let firstFailure { return firstFailure.status == 0 ? 1 : firstFailure.status }
        if let rank = processes.indices.first(where: { Self.failed(processes[$0]) }) {
            output.write("launcher: rank \(rank) \(Self.describe(processes[rank]))\n", to: .standardError)
            return 1
        }
        return 0
    }

    private func waitBriefly(_ processes: [Process], for duration: Duration) {
        let deadline = ContinuousClock.now + duration
        while processes.contains(where: \.isRunning), ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
    }

    private static func failed(_ process: Process) -> Bool {
        process.terminationReason == .uncaughtSignal || process.terminationStatus != 0
    }

    private static func describe(_ process: Process) -> String {
        if process.terminationReason == .uncaughtSignal {
            let signal = process.terminationStatus
            let name = signal == SIGKILL ? "SIGKILL" : signal == SIGTERM ? "SIGTERM" : signal == SIGSEGV ? "SIGSEGV"
                : signal == SIGINT ? "SIGINT" : "signal \(signal)"
            return "was killed by \(name)"
        }
        return "exited with status \(process.terminationStatus)"
    }

    /// Copies `pipe`'s lines to `destination`, each prefixed; leaves `drained` at the end of the stream.
    private static func prefixLines(of pipe: Pipe, with prefix: String, into destination: FileHandle, output: Output,
                                    drained: DispatchGroup) {
        drained.enter()
        let lock = NSLock()
        nonisolated(unsafe) var pending = Data()
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            lock.lock()
            defer { lock.unlock() }
            if chunk.isEmpty {  // end of file: the rest, newline-terminated
                if !pending.isEmpty { output.write(prefix + String(decoding: pending, as: UTF8.self) + "\n", to: destination) }
                pending.removeAll()
                handle.readabilityHandler = nil
                drained.leave()
                return
            }
            pending.append(chunk)
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = pending[pending.startIndex...newline]
                // A progress line redrawn with \r shows its last state only.
                let text = String(decoding: line, as: UTF8.self).split(separator: "\r").last.map(String.init) ?? ""
                output.write(prefix + text, to: destination)
                pending.removeSubrange(pending.startIndex...newline)
            }
        }
    }

    /// SIGINT and SIGTERM sent to the launcher go to every rank (which checkpoint nothing partial: see
    /// CheckpointStore); the launcher itself keeps running until they have exited.
    private static func forwardSignals(to processes: [Process]) -> [DispatchSourceSignal] {
        let pids = processes.map(\.processIdentifier)
        return [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { for pid in pids { kill(pid, number) } }
            source.resume()
            return source
        }
    }

    /// A port nobody listens on now: bind port 0 on loopback and read what the kernel chose. (Another process could
    /// take it before rank 0 binds it; rank 0 then fails with "address already in use", never hangs.)
    static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LauncherError("cannot open a socket (errno \(errno))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw LauncherError("cannot find a free loopback port (errno \(errno))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    struct LauncherError: Error, LocalizedError {
        let message: String
        init(_ message: String) { self.message = message }
        var errorDescription: String? { "launcher: \(message)" }
    }
}
