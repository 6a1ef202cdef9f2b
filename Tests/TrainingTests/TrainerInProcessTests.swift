import Checkpointing
import Foundation
import RunConfig
import RunOutputs
import SwiftMPI
import TestSupport
import Training
import XCTest

/// The training loop in this process, on one rank (MPI's singleton start, no mpirun): a `Trainer`
/// takes steps on real Fashion-MNIST, writes its checkpoint and metrics, and a second `Trainer`
/// resumes from them where the first stopped. The multi-rank behaviour is `TrainerRunTests`' (under
/// mpirun); this one shows the loop itself can be driven and inspected from a test.
///
/// MPI starts once per process and cannot start again after it ends, and other tests check how
/// SwiftMPI behaves before it starts: so the test runs again in a test process of its own (the same
/// test binary, this test alone), which starts MPI, drives the trainers and finalises MPI.
final class TrainerInProcessTests: XCTestCase {
    static let ownProcessVariable = "MULTIMIX_TEST_IN_OWN_PROCESS"
    var folder: URL!

    var isOwnProcess: Bool { ProcessInfo.processInfo.environment[TrainerInProcessTests.ownProcessVariable] == "1" }

    override func setUpWithError() throws {
        folder = try Repository.runFolderWithFashionMNIST(prefix: "in-process")
        if isOwnProcess && !MPI.isInitialized { _ = try MPI.initialize(threadLevel: .funneled) }
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    override class func tearDown() {
        if MPI.isInitialized && !MPI.isFinalized { try? MPI.finalize() }
        super.tearDown()
    }

    /// Runs `test` of this class in a test process of its own; fails with its output if it fails.
    func runInOwnProcess(_ test: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["TrainingTests.TrainerInProcessTests/\(test)"]
        process.environment = ProcessInfo.processInfo.environment.merging([TrainerInProcessTests.ownProcessVariable: "1"]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "the test in its own process failed:\n\(text.suffix(3000))")
        XCTAssertTrue(text.contains("Executed 1 test, with 0 failures"), "the test did not run in its own process:\n\(text.suffix(3000))")
    }

    func testOneRankTakesStepsCheckpointsAndResumesWhereItStopped() throws {
        guard isOwnProcess else { return try runInOwnProcess("testOneRankTakesStepsCheckpointsAndResumesWhereItStopped") }
        let config = try TrainingConfig.parse(yaml: """
            name: in-process
            seed: 3
            data: {dataset: fashion-mnist, root: /usr/share/datasets/fashion-mnist, train_subset: 256, augment: {crop_padding: 0, horizontal_flip: false}}
            model: {name: resnet20, width: 0.25}
            mixing: {method: multimix, n: 64, m: 2, alpha: 1.0}
            optimizer: {lr: 0.05}
            training: {epochs: 1, batch_size: 32, threads: 1, log_every_steps: 1}
            eval: {every_epochs: 100}
            """)
        let world = try Communicator.world
        XCTAssertEqual(world.size, 1)
        let run = folder.appendingPathComponent("run")
        let quiet = ProgressReporter(isTerminal: false, output: { _ in })

        // Three steps, then the stop that --max-steps asks for: a checkpoint at step 3.
        var first: Trainer? = try Trainer(config: config, communicator: world, runDirectory: run, resume: .never, maxSteps: 3, progress: quiet)
        guard case .completed(let checkpoint?) = try first!.run() else { return XCTFail("the first run did not complete with a checkpoint") }
        XCTAssertEqual(checkpoint.lastPathComponent, "step-000003")
        XCTAssertEqual([first!.position.globalStep, first!.position.epoch, first!.position.stepInEpoch], [3, 0, 3])
        let arena = first!.model.arena
        let trained = Array(UnsafeBufferPointer(start: arena.values, count: arena.valueCount))
        first = nil  // its hold on the run folder ends with it
        let losses = try MetricsLog.read(run.appendingPathComponent("metrics.jsonl")).filter { $0.kind == .train }
        XCTAssertEqual(losses.map(\.step), [1, 2, 3])
        XCTAssertTrue(losses.allSatisfy { $0.values["loss"]?.isFinite == true }, "\(losses)")
        let saved = try CheckpointStore.load(checkpoint)
        XCTAssertEqual([saved.state.step, saved.state.stepInEpoch], [3, 3])

        // The resumed run starts at step 3 and trains the epoch's other 5 steps (256 / 32 = 8).
        let second = try Trainer(config: config, communicator: world, runDirectory: run, resume: .auto, progress: quiet)
        XCTAssertEqual(second.position.globalStep, 3)
        XCTAssertEqual(second.model.arena.valueCount, trained.count)
        for i in trained.indices {
            guard second.model.arena.values[i].bitPattern == trained[i].bitPattern else {
                return XCTFail("value \(i) differs after the resume: the checkpoint did not restore the parameters exactly")
            }
        }
        guard case .completed(let last?) = try second.run() else { return XCTFail("the resumed run did not complete") }
        XCTAssertEqual(last.lastPathComponent, "step-000008")
        XCTAssertEqual(second.position.globalStep, 8)
        XCTAssertEqual(try MetricsLog.read(run.appendingPathComponent("metrics.jsonl")).filter { $0.kind == .train }.map(\.step),
                       Array(1...8))
    }
}
