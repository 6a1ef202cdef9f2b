import Checkpointing
import Foundation
import TestSupport
import Training
import XCTest

/// A launch/beds/local-slurm.sh test bed of a test class's own (folder, ports, and for `up --nodes N` node
/// names and network), with the sbatch / scontrol helpers that SlurmTests and SlurmNodeTests share.
/// Every wait has a deadline.
struct SlurmBed {
    struct Unavailable: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// What `scontrol show job` says of a job (Slurm keeps finished jobs for MinJobAge).
    struct Job {
        var state: String
        var restarts: Int
        var exitCode: String
        var reason: String
        var nodes: String
    }

    static let finalStates: Set<String> = ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED"]

    let multimix = MPIRun.executable("multimix")
    let script = Repository.root.appendingPathComponent("launch/beds/local-slurm.sh").path
    let directory: URL
    let port: Int
    /// `up`'s arguments after "up" (e.g. ["--nodes", "3"]), and the environment that goes with them.
    let upArguments: [String]
    let bedEnvironment: [String: String]

    init(folder: String, port: Int, upArguments: [String] = [], environment: [String: String] = [:]) {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(folder)
        self.port = port
        self.upArguments = upArguments
        bedEnvironment = environment
    }

    var environment: [String: String] {
        ["MULTIMIX_SLURM_DIR": directory.path, "MULTIMIX_SLURM_PORT": String(port),
         "SLURM_CONF": directory.appendingPathComponent("slurm.conf").path, "MULTIMIX_BIN": multimix].merging(bedEnvironment) { $1 }
    }

    /// `launch/beds/local-slurm.sh up ...` (after `down` where a killed test process left a bed in this
    /// folder); a failure (not a skip: CI must not pass without having run the tests) names the
    /// variable that skips them.
    func up(skipVariable: String) throws -> MPIRun.Result {
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("bed").path) {
            // A bed that an earlier test process left running (killed before its tearDown): taken
            // down first, so that no test meets its controller, its jobs or its nodes.
            let stale = try down()
            print("[slurm] took down the bed an earlier test process left in \(directory.path) (status \(stale.status))")
        }
        let up = try MPIRun.launch(["bash", script, "up"] + upArguments, timeout: 600, environment: environment)
        guard up.status == 0, !up.timedOut else {
            _ = try? down()
            throw Unavailable(message: "this machine cannot run the local Slurm (launch/beds/local-slurm.sh up \(upArguments.joined(separator: " ")), "
                              + "status \(up.status)); set \(skipVariable)=1 to skip these tests:\n\(up.output)")
        }
        print("[slurm] \(up.output.split(separator: "\n").last ?? "") (\(String(format: "%.1f", up.seconds)) s)")
        return up
    }

    func down() throws -> MPIRun.Result {
        try MPIRun.launch(["bash", script, "down"], timeout: 120, environment: environment)
    }

    func slurm(_ commandLine: [String], timeout: Double = 30) throws -> MPIRun.Result {
        try MPIRun.launch(commandLine, timeout: timeout, environment: environment)
    }

    /// `sbatch GEOMETRY FLAGS launch/slurm.sbatch CONFIG --run-dir RUN`, its output in `folder`;
    /// returns the job id and its output file.
    func submit(_ config: String, run: URL, folder: URL, geometry: [String], sbatchFlags: [String] = [],
                environment: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> (String, URL) {
        let output = folder.appendingPathComponent("job-\(run.lastPathComponent).out")
        let result = try MPIRun.launch(["sbatch", "--parsable"] + geometry + ["--output=\(output.path)"] + sbatchFlags
                                       + ["launch/slurm.sbatch", config, "--run-dir", run.path],
                                       timeout: 30, environment: self.environment.merging(environment) { $1 },
                                       currentDirectory: Repository.root)
        XCTAssertEqual(result.status, 0, result.output, file: file, line: line)
        let id = result.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        XCTAssertFalse(id.isEmpty, result.output, file: file, line: line)
        return (id, output)
    }

    func job(_ id: String) throws -> Job {
        let text = try slurm(["scontrol", "show", "job", "-o", id]).output
        func field(_ key: String) -> String {
            text.components(separatedBy: " ").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) } ?? ""
        }
        // Reason may hold spaces ("ReqNodeNotAvail, UnavailableNodes:x"): up to the next field.
        let reason = text.range(of: " Reason=").map { text[$0.upperBound...].components(separatedBy: " Dependency=").first ?? "" } ?? ""
        return Job(state: field("JobState"), restarts: Int(field("Restarts")) ?? -1, exitCode: field("ExitCode"),
                   reason: String(reason), nodes: field("NodeList"))
    }

    /// Waits (at most `timeout` s) until the job is in a final state; cancels it past the deadline.
    func finish(_ id: String, output: URL, timeout: Double, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let state = try job(id).state
            if Self.finalStates.contains(state) { return state }
            Thread.sleep(forTimeInterval: 0.5)
        }
        _ = try? slurm(["scancel", "--full", id])
        XCTFail("job \(id) did not end within \(Int(timeout)) s:\n\(Self.text(output))", file: file, line: line)
        return "TIMEOUT (test)"
    }

    /// The system tests' tiny job, TrainerRunTests' (ResNet-20 at width 1/4, 32 images a step per rank), written to
    /// `folder/NAME.yaml`: `subset` training images and `epochs` epochs, a checkpoint every epoch;
    /// `threads` per rank, or nil to leave them to multimix (Slurm's --cpus-per-task).
    static func config(_ name: String, in folder: URL, subset: Int, epochs: Int, threads: Int? = 1) throws -> String {
        let text = """
            name: \(name)
            seed: 7
            data: {dataset: fashion-mnist, root: /usr/share/datasets/fashion-mnist, train_subset: \(subset), augment: {crop_padding: 0, horizontal_flip: false}}
            model: {name: resnet20, width: 0.25}
            mixing: {method: multimix, n: 64, alpha: [0.5, 2.0], probability: 1.0}
            optimizer: {lr: 0.05, momentum: 0.9, weight_decay: 0.0001}
            schedule: {kind: cosine}
            training: {epochs: \(epochs), batch_size: 32, \(threads.map { "threads: \($0), " } ?? "")log_every_steps: 8}
            distributed: {check_every_steps: 1, stall_timeout_s: 60}
            eval: {every_epochs: 100}
            checkpoint: {every_epochs: 1, keep: 3}

            """
        let url = folder.appendingPathComponent("\(name).yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    static func text(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    /// Waits until `needle` appears `count` times in the job's output; returns when it was first seen.
    @discardableResult
    static func waitFor(_ needle: String, count: Int = 1, in output: URL, timeout: Double,
                        file: StaticString = #filePath, line: UInt = #line) -> Date? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if text(output).components(separatedBy: needle).count - 1 >= count { return Date() }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTFail("'\(needle)' (×\(count)) not in the job output within \(Int(timeout)) s:\n\(text(output))", file: file, line: line)
        return nil
    }

    /// The trainable tensors (not BatchNorm's running statistics) of a checkpoint.
    static func trainableTensors(_ checkpoint: URL) throws -> [String: [Float]] {
        let (tensors, _) = try Safetensors.read(checkpoint.appendingPathComponent("model.safetensors"))
        return Dictionary(uniqueKeysWithValues: tensors.filter { !$0.name.contains("running_") }.map { ($0.name, $0.values) })
    }

    static func assertBitForBitEqual(_ a: URL, _ b: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let x = try trainableTensors(a), y = try trainableTensors(b)
        XCTAssertFalse(x.isEmpty, file: file, line: line)
        XCTAssertEqual(x.keys.sorted(), y.keys.sorted(), file: file, line: line)
        for (name, values) in x { XCTAssertTrue(values == y[name], "\(name) differs", file: file, line: line) }
    }

    static func seconds(_ from: Date?, _ to: Date?) -> String {
        guard let from, let to else { return "?" }
        return String(format: "%.1f s", to.timeIntervalSince(from))
    }
}
