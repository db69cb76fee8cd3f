import Datasets
import Foundation
import TestSupport
import XCTest

/// Data-parallel training as its users run it: real rank processes of the built binary, c10d on loopback, 1 thread
/// each, the tiny fixtures. A run of N ranks × batch B must be the optimisation one process makes on batch N·B.
final class DataParallelTests: XCTestCase {
    /// ‖Δ‖/‖x‖ per tensor between 2 ranks × batch 1 and 1 process × batch 2: the only difference is the order in
    /// which a matmul over 2 rows and an all-reduce of 2 partial sums add up (measured: ≤ 6e-8 on weights, ≤ 8e-7 on
    /// moments after 4 steps on one VM; 1.0e-6 on a LoRA moment after 3 steps on another, whose CPU takes other
    /// kernel paths), a few float32 roundings; a real data-parallel error (a missed or doubled gradient) is ≥ 1e-3.
    /// Against a process that accumulates the same rows as micro-batches the sums are the same additions, so the
    /// runs are bitwise equal.
    let tolerance = 2e-6
    /// AdamW's first update of an element is ±lr whatever the gradient's size once it exceeds eps, so with the usual
    /// eps = 1e-8 an element whose gradient is pure cancellation noise (an embedding row seen for the first time)
    /// takes the sign of that noise, which the summation order decides: 3e-5 relative on the embedding after 3
    /// accumulated steps. eps = 1e-6 keeps such elements in Adam's linear range, so the comparison with a whole
    /// batch measures the data-parallel arithmetic, not Adam's sign of noise.
    let linearEps = "optimizer.eps=1e-6"

    func testTwoRanksOfBatchOneMatchOneProcessOfBatchTwo() throws {
        let w = try RankWorkspace()
        defer { w.remove() }
        let common = ["max_steps=4", "checkpoint.every=4", "validation.every=2", "validation.batches=2",
                      "data.validation=\(w.url("tokens.json").path)"]
        try w.train("one", common + ["batch_size=2"])
        try w.train("accumulated", common + ["batch_size=1", "grad_accumulation=2"])
        let (out, _) = try w.train("two", ranks: 2, common + ["batch_size=1"])
        XCTAssertTrue(out.contains("[rank 0] training") && out.contains("on 2 ranks (gloo), global batch 2"), out)
        XCTAssertTrue(out.contains("×2 ranks"), "the progress line shows the world size: \(out)")

        for file in ["model.safetensors", "trainer_state.safetensors"] {
            assertClose(try w.tensors("two", step: 4, file: file), try w.tensors("one", step: 4, file: file),
                        relative: tolerance, "\(file): 2 ranks × batch 1 vs 1 process × batch 2")
            // Accumulating the same two rows one after the other adds the same two gradients: bitwise.
            assertClose(try w.tensors("two", step: 4, file: file), try w.tensors("accumulated", step: 4, file: file),
                        relative: 0, bitwise: true, "\(file): 2 ranks vs 1 process accumulating 2 micro-batches")
        }
        // Same losses, gradient norms and validation losses, step by step (sharded validation, all-reduced).
        let one = try w.metrics("one"), two = try w.metrics("two")
        XCTAssertEqual(one.count, two.count)
        XCTAssertTrue(two.contains { $0["val_loss"] != nil }, "validation ran")
        for (a, b) in zip(one, two) {
            for key in ["loss", "val_loss", "grad_norm", "val_tokens"] {
                guard let x = a[key] else { continue }
                XCTAssertEqual(b[key] ?? .nan, x, accuracy: 1e-6 * max(1, abs(x)), "\(key) at \(a)")
            }
        }
        // Rank 0 alone wrote the checkpoint; it records both ranks' positions.
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: w.url("two/step-4/trainer_state.json")))
            as! [String: Any]
        XCTAssertEqual(state["world_size"] as? Int, 2)
        XCTAssertEqual((state["ranks"] as? [[String: Any]])?.compactMap { $0["rank"] as? Int }, [0, 1])
    }

    func testGradientAccumulationLoRAAndTheBeaconObjective() throws {
        let w = try RankWorkspace()
        defer { w.remove() }
        // (name, overrides, whether a single process accumulating the same rows is the bitwise reference: not with
        // accumulation (each rank adds its own micro-batches first) nor with the beacon objective (it adds every
        // window's gradient into .grad, so a rank's row is summed before the ranks are))
        let cases: [(String, [String], Bool)] = [
            ("accumulation", ["grad_accumulation=2"], false),
            ("lora", ["trainable.mode=lora", "trainable.lora_modules=[q_proj,v_proj]", "trainable.lora_rank=4",
                      "trainable.lora_alpha=8"], true),
            ("beacon", ["model.path=\(RankWorkspace.beaconLlama)", "data.train=\(w.url("tokens96.json").path)",
                        "stage=beacon-pretrain", "trainable.mode=only_beacon", "data.ratios=[2,4]",
                        "data.min_length=48", "data.max_length=48"], false),
        ]
        for (name, overrides, accumulationIsBitwise) in cases {
            let common = ["max_steps=3", "checkpoint.every=3", linearEps] + overrides
            try w.train("\(name)-one", common + ["batch_size=2"])
            try w.train("\(name)-two", ranks: 2, common + ["batch_size=1"])
            if accumulationIsBitwise { try w.train("\(name)-accumulated", common + ["batch_size=1", "grad_accumulation=2"]) }
            for file in ["model.safetensors", "trainer_state.safetensors"] {
                let two = try w.tensors("\(name)-two", step: 3, file: file)
                assertClose(two, try w.tensors("\(name)-one", step: 3, file: file), relative: tolerance, "\(name): \(file)")
                if accumulationIsBitwise {
                    assertClose(two, try w.tensors("\(name)-accumulated", step: 3, file: file), relative: 0, bitwise: true,
                                "\(name): \(file) vs accumulated micro-batches")
                }
            }
        }
    }

    /// Clue SFT across ranks: a global batch of 2 examples of different lengths is right-padded by the source and
    /// split by rows, so each rank trains its example exactly as a process with the whole (padded) batch does. Full
    /// training: the last layer's beacon output projection gets no gradient (nothing reads its output), so AdamW must
    /// leave it alone on every rank, as in one process.
    func testSFTAcrossRanksMatchesTheWholePaddedBatch() throws {
        let w = try RankWorkspace()
        defer { w.remove() }
        let store = w.url("sft.h5")
        let writer = try SFTStoreWriter(url: store, vocabSize: 96, tokenizerSHA256: String(repeating: "0", count: 64))
        for (i, length) in [20, 44, 31, 38].enumerated() {
            let document = (0..<length).map { UInt32((($0 + i) * 11 + 5) % 96) }
            let context = try writer.addContext(document, key: "doc\(i)")
            try writer.addExample(contextID: context, prompt: [3, 4], target: Array(document.prefix(4)), task: .recall)
        }
        try writer.finish()
        let common = ["model.path=\(RankWorkspace.beaconLlama)", "data.train=\(store.path)", "stage=sft",
                      "trainable.mode=full", "data.ratios=[2]", "data.max_length=64", "max_steps=3", "checkpoint.every=3",
                      linearEps]
        try w.train("sft-one", common + ["batch_size=2"])
        try w.train("sft-two", ranks: 2, common + ["batch_size=1"])
        for file in ["model.safetensors", "trainer_state.safetensors"] {
            assertClose(try w.tensors("sft-two", step: 3, file: file), try w.tensors("sft-one", step: 3, file: file),
                        relative: tolerance, "sft: \(file)")
        }
    }

    /// SIGKILL of one rank: the other stops within the timeout naming it, the last checkpoint stays whole, and a
    /// resumed run ends bitwise where the uninterrupted one does.
    func testAKilledRankStopsTheOtherAndTheRunResumesBitwise() throws {
        let w = try RankWorkspace()
        defer { w.remove() }
        let common = ["max_steps=300", "checkpoint.every=50", "batch_size=1", "log.every=10", "distributed.timeout_s=20"]
        try w.train("uninterrupted", ranks: 2, common)

        let port = try RankWorkspace.freePort()
        let ranks = try (0..<2).map {
            try w.startRank($0, of: 2, port: port, output: "killed", common, log: w.url("rank\($0).log"))
        }
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: w.url("killed/step-100").path), Date() < deadline, ranks[0].isRunning {
            Thread.sleep(forTimeInterval: 0.01)
        }
        XCTAssertTrue(ranks[1].isRunning, "rank 1 ended before it could be killed")
        kill(ranks[1].processIdentifier, SIGKILL)
        let killedAt = Date()
        ranks[0].waitUntilExit()
        ranks[1].waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(killedAt), 20, "rank 0 noticed within the collective timeout")
        XCTAssertNotEqual(ranks[0].terminationStatus, 0)
        let log = try String(contentsOf: w.url("rank0.log"), encoding: .utf8)
        XCTAssertTrue(log.contains("Rank(s) 1 stopped answering"), log.suffix(1000).description)

        let resumed = try w.train("killed", ranks: 2, common + ["resume=true"])
        XCTAssertTrue(resumed.stdout.contains("resumed at step"), resumed.stdout)
        for file in ["model.safetensors", "trainer_state.safetensors"] {
            assertClose(try w.tensors("killed", step: 300, file: file), try w.tensors("uninterrupted", step: 300, file: file),
                        relative: 0, bitwise: true, "resumed after SIGKILL: \(file)")
        }
        XCTAssertEqual(try w.metrics("killed"), try w.metrics("uninterrupted"), "metrics.jsonl has each step once")
    }

    /// A 2-rank checkpoint continues on 1 process from the same global position, and says it is re-sharded.
    func testACheckpointResumesOnAnotherWorldSize() throws {
        let w = try RankWorkspace()
        defer { w.remove() }
        try w.train("run", ranks: 2, ["max_steps=4", "checkpoint.every=2", "batch_size=1"])
        try FileManager.default.removeItem(at: w.url("run/step-4"))
        let (out, _) = try w.train("run", ["max_steps=4", "checkpoint.every=2", "batch_size=2", "resume=true"])
        XCTAssertTrue(out.contains("written by 2 rank(s); continuing on 1 with the data re-sharded"), out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: w.url("run/step-4/model.safetensors").path))
    }

    func testRanksThatDisagreeAreRefusedBeforeStepOne() throws {
        let w = try RankWorkspace()
        defer { w.remove() }
        let port = try RankWorkspace.freePort()
        let ranks = try [
            w.startRank(0, of: 2, port: port, output: "run", ["batch_size=1"], log: w.url("rank0.log")),
            w.startRank(1, of: 2, port: port, output: "run", ["batch_size=1", "optimizer.lr=1e-3"], log: w.url("rank1.log")),
        ]
        for rank in ranks { rank.waitUntilExit() }
        for (index, rank) in ranks.enumerated() {
            XCTAssertNotEqual(rank.terminationStatus, 0)
            let log = try String(contentsOf: w.url("rank\(index).log"), encoding: .utf8)
            XCTAssertTrue(log.contains("rank 1 does not run what rank 0 runs: its resolved recipe has 'lr: 0.001' "
                                       + "where rank 0's has 'lr: 0.003'"), log)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: w.url("run/step-5").path), "no step ran")
        XCTAssertFalse(FileManager.default.fileExists(atPath: w.url("run/metrics.jsonl").path), "no step ran")
    }

    /// A port in use, an unreachable master and mismatched world sizes are clear errors within the timeout.
    func testRendezvousFailuresAreClearErrors() throws {
        let w = try RankWorkspace()
        defer { w.remove() }
        let quick = ["batch_size=1", "distributed.timeout_s=3"]

        // Port in use: something else listens on MASTER_PORT.
        let port = try RankWorkspace.freePort()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let listening = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0 && listen(fd, 4) == 0
        XCTAssertTrue(listening)
        var rank = try w.startRank(0, of: 2, port: port, output: "a", quick, log: w.url("inuse.log"))
        rank.waitUntilExit()
        var log = try String(contentsOf: w.url("inuse.log"), encoding: .utf8)
        XCTAssertNotEqual(rank.terminationStatus, 0)
        XCTAssertTrue(log.contains("rank 0 could not host the rendezvous store on 127.0.0.1:\(port)")
                      && log.contains("address already in use"), log)

        // Unreachable master: rank 1 alone.
        let started = Date()
        rank = try w.startRank(1, of: 2, port: try RankWorkspace.freePort(), output: "b", quick, log: w.url("alone.log"))
        rank.waitUntilExit()
        log = try String(contentsOf: w.url("alone.log"), encoding: .utf8)
        XCTAssertNotEqual(rank.terminationStatus, 0)
        XCTAssertTrue(log.contains("rank 1 could not join the rendezvous store"), log)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)

        // Mismatched world sizes.
        let shared = try RankWorkspace.freePort()
        let ranks = try [
            w.startRank(0, of: 2, port: shared, output: "c", quick, log: w.url("w0.log")),
            w.startRank(1, of: 3, port: shared, output: "c", quick, log: w.url("w1.log")),
        ]
        for rank in ranks { rank.waitUntilExit() }
        for index in 0..<2 {
            XCTAssertNotEqual(ranks[index].terminationStatus, 0)
            log = try String(contentsOf: w.url("w\(index).log"), encoding: .utf8)
            XCTAssertTrue(log.contains("rank 1 has WORLD_SIZE=3 but rank 0 has WORLD_SIZE=2"), log)
        }
    }

    /// The launcher prefixes each rank's lines and fails when a rank fails.
    func testTheLauncherPrefixesOutputAndFailsWithItsRanks() throws {
        let w = try RankWorkspace()
        defer { w.remove() }
        let result = try runProcess(w.memorag, ["train", "--nproc-per-node", "2"]
                                    + w.arguments("run", ["batch_size=1", "data.train=\(w.url("missing.json").path)"]))
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("[rank 0] ") && result.stderr.contains("[rank 1] "), result.stderr)
        XCTAssertTrue(result.stderr.contains("missing.json"), result.stderr)
        XCTAssertTrue(result.stderr.contains("launcher: rank"), result.stderr)
    }

    /// torchrun (from the peer venv, when setup made it) launches the same ranks as `--nproc-per-node`.
    func testTorchrunLaunchesTheSameRun() throws {
        let cache = ProcessInfo.processInfo.environment["MEMORAG_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/memorag").path
        let torchrun = URL(fileURLWithPath: cache).appendingPathComponent("venv-peer/bin/torchrun")
        guard FileManager.default.isExecutableFile(atPath: torchrun.path) else {
            throw XCTSkip("no torchrun (scripts/peer-venv.sh makes it)")
        }
        let w = try RankWorkspace()
        defer { w.remove() }
        let common = ["max_steps=4", "checkpoint.every=4", "batch_size=1", "threads=1"]
        try w.train("ours", ranks: 2, common)
        let result = try runProcess(torchrun, ["--nproc-per-node", "2", "--master-port", String(try RankWorkspace.freePort()),
                                               "--no-python", w.memorag.path, "train"] + w.arguments("torchrun", common),
                                    environment: ["OMP_NUM_THREADS": "1"])
        XCTAssertEqual(result.status, 0, result.stderr.suffix(2000).description)
        for file in ["model.safetensors", "trainer_state.safetensors"] {
            assertClose(try w.tensors("torchrun", step: 4, file: file), try w.tensors("ours", step: 4, file: file),
                        relative: 0, bitwise: true, "torchrun vs --nproc-per-node: \(file)")
        }
    }
}
