import Foundation

/// Runs the project's built executables under a real `mpirun`, for multi-rank tests.
///
/// The executables are found beside the test bundle (`swift test` builds every product into the same
/// folder), or in `$MULTIMIX_BIN_DIR` when set. A watchdog turns a hang into a test failure: after
/// `timeout` seconds mpirun and its ranks are killed and `timedOut` is set.
public enum MPIRun {
    /// The outcome of one `mpirun`.
    public struct Result {
        /// mpirun's exit status (a signal number + 128 style status for a killed run).
        public var status: Int32
        /// stdout and stderr of all ranks, interleaved.
        public var output: String
        /// Wall time of the whole run.
        public var seconds: Double
        /// Whether the watchdog had to kill the run.
        public var timedOut: Bool
    }

    /// The folder holding the built products (`.build/<config>`).
    public static var binaryDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["MULTIMIX_BIN_DIR"] {
            return URL(fileURLWithPath: dir)
        }
        let bundle = Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") }?.bundleURL
            ?? URL(fileURLWithPath: CommandLine.arguments[0])
        return bundle.deletingLastPathComponent()
    }

    /// The path of the built executable `name`.
    public static func executable(_ name: String) -> String {
        binaryDirectory.appendingPathComponent(name).path
    }

    /// The flags every local run needs: root is allowed, more ranks than cores are allowed, and ranks
    /// are not pinned (each uses its own BLAS threads).
    public static let localFlags = ["--oversubscribe", "--bind-to", "none"]

    /// Runs `mpirun -np ranks <program> <arguments...>` and waits at most `timeout` seconds.
    public static func run(ranks: Int, program: String, arguments: [String], timeout: Double = 120,
                           extraMPIFlags: [String] = [], environment: [String: String] = [:]) throws -> Result {
        try launch(["mpirun", "-np", String(ranks)] + localFlags + extraMPIFlags + [program] + arguments,
                   timeout: timeout, environment: environment)
    }

    /// A job running in the background, its stdout and stderr going to a temporary file, for tests that
    /// signal or kill it. `finish(timeout:)` has a deadline: a job that does not end is killed and
    /// reported as timed out, so a regression fails the test instead of hanging it.
    public final class BackgroundJob {
        public let process: Process
        private let logURL: URL
        private let log: FileHandle

        init(_ commandLine: [String], environment: [String: String]) throws {
            process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = commandLine
            process.environment = ProcessInfo.processInfo.environment.merging(
                ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"].merging(environment) { $1 }) { $1 }
            logURL = FileManager.default.temporaryDirectory.appendingPathComponent("job-\(UUID().uuidString).log")
            _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
            log = try FileHandle(forWritingTo: logURL)
            process.standardOutput = log
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            try? log.close()
            try? FileManager.default.removeItem(at: logURL)
        }

        public var processIdentifier: Int32 { process.processIdentifier }
        public var isRunning: Bool { process.isRunning }
        /// What the job has printed so far.
        public var output: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

        /// Waits at most `timeout` seconds for the job to end; past that, SIGTERM, then SIGKILL.
        public func finish(timeout: Double) -> Result {
            let start = Date()
            var timedOut = false
            while process.isRunning {
                if Date().timeIntervalSince(start) > timeout {
                    timedOut = true
                    process.terminate()
                    Thread.sleep(forTimeInterval: 2)
                    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                    break
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
            process.waitUntilExit()
            return Result(status: process.terminationStatus, output: output, seconds: Date().timeIntervalSince(start), timedOut: timedOut)
        }
    }

    /// Starts `mpirun -np ranks <program> <arguments...>` in the background (see ``BackgroundJob``).
    public static func start(ranks: Int, program: String, arguments: [String],
                             environment: [String: String] = [:]) throws -> BackgroundJob {
        try BackgroundJob(["mpirun", "-np", String(ranks)] + localFlags + [program] + arguments, environment: environment)
    }

    /// Starts any command line in the background (the first element is looked up on PATH), e.g. a
    /// launch script (see ``BackgroundJob``).
    public static func start(_ commandLine: [String], environment: [String: String] = [:]) throws -> BackgroundJob {
        try BackgroundJob(commandLine, environment: environment)
    }

    /// Runs any command line (the first element is looked up on PATH), with the same watchdog.
    public static func launch(_ commandLine: [String], timeout: Double = 120,
                              environment: [String: String] = [:],
                              currentDirectory: URL? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = commandLine
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env.merge(environment) { $1 }
        process.environment = env
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }

        let logURL = FileManager.default.temporaryDirectory
            .appendingPathComponent("mpirun-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        defer { try? FileManager.default.removeItem(at: logURL) }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice

        let start = Date()
        try process.run()
        var timedOut = false
        while process.isRunning {
            if Date().timeIntervalSince(start) > timeout {
                timedOut = true
                process.terminate()  // mpirun forwards SIGTERM to its ranks
                Thread.sleep(forTimeInterval: 2)
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.waitUntilExit()
        try log.close()
        let output = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        return Result(status: process.terminationStatus, output: output,
                      seconds: Date().timeIntervalSince(start), timedOut: timedOut)
    }
}
