import Foundation
import TestSupport
import XCTest

/// Every subcommand fails the same way: one line `multimix: error: …`, exit 2 for a bad command line
/// and 1 for bad input found while running; `--help` still prints the usage and exits 0.
final class CommandLineErrorTests: XCTestCase {
    func multimix(_ arguments: [String]) throws -> MPIRun.Result {
        try ToolRefusal.run(arguments)
    }

    private func assertOneLine(_ arguments: [String], status: Int32, startsWith prefix: String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        try ToolRefusal.assertOneLine(arguments, status: status, startsWith: prefix, file: file, line: line)
    }

    func testBadCommandLinesExitTwoWithOneLine() throws {
        try assertOneLine(["train"], status: 2, startsWith: "Missing expected argument '--config <config>'")
        try assertOneLine(["train", "--config", "x.yaml", "--bogus"], status: 2, startsWith: "Unknown option '--bogus'")
        try assertOneLine(["train", "--config", "x.yaml", "--max-steps", "0"], status: 2, startsWith: "--max-steps must be at least 1")
        try assertOneLine(["eval"], status: 2, startsWith: "Missing expected argument")
        try assertOneLine(["study"], status: 2, startsWith: "Missing expected argument")
        try assertOneLine(["report"], status: 2, startsWith: "give at least one RUN_DIR")
        try assertOneLine(["nonsense"], status: 2, startsWith: "Unexpected argument 'nonsense'")
        try assertOneLine(["eval", "--checkpoint", "x", "--ood", ""], status: 2, startsWith: "--ood : '' cannot name a set; use 1 to 64 letters, digits, - and _")
        try assertOneLine(["eval", "--checkpoint", "x", "--ood", "lsun"], status: 2, startsWith: "--ood lsun: lsun is not a built-in dataset")
        try assertOneLine(["data", "inspect", "cifar10", "--grid", "g.png", "--per-class", "100000"], status: 2,
                          startsWith: "--per-class and --classes must be in [1, 100] and --scale in [1, 16] (got 100000, 10, 2).")
        // An empty --run-dir wrote the run into the current folder, "/" into the root.
        try assertOneLine(["train", "--config", "x.yaml", "--run-dir", ""], status: 2, startsWith: "--run-dir is empty; name a folder")
        try assertOneLine(["train", "--config", "x.yaml", "--run-dir", "/"], status: 2, startsWith: "--run-dir / is the file system's root")
        try assertOneLine(["train", "--config", "x.yaml", "--run-dir", "/tmp/../"], status: 2, startsWith: "--run-dir /tmp/../ is the file system's root")
        try assertOneLine(["study", "--config", "x.yaml", "--run-dir-root", ""], status: 2, startsWith: "--run-dir-root is empty")
        // Bench options that crashed libgomp, trapped or aborted on allocation are bounded.
        try assertOneLine(["bench", "train", "--threads", "100000"], status: 2, startsWith: "--threads must be in [1, 256]; got 100000.")
        try assertOneLine(["bench", "train", "--mixer", ""], status: 2, startsWith: "--mixer: unknown method ''")
        try assertOneLine(["bench", "train", "--mixer", "erm,"], status: 2, startsWith: "--mixer: unknown method ''")
        try assertOneLine(["bench", "train", "--batch", "100000000"], status: 2,
                          startsWith: "--batch × --input is 100000000x3x32x32, more than 1073741824 values (4 GiB)")
        try assertOneLine(["bench", "conv", "--input", "3x50000x50000"], status: 2,
                          startsWith: "--batch × --input is 128x3x50000x50000, more than 1073741824 values (4 GiB)")
        try assertOneLine(["bench", "conv", "--threads", "10000"], status: 2, startsWith: "--threads must be in [1, 256]; got 10000.")
        try assertOneLine(["bench", "allreduce", "--min-bytes", "1000000000000"], status: 2,
                          startsWith: "--min-bytes must be in [4, 1073741824] (one Float to 1 GiB); got 1000000000000.")
        try assertOneLine(["bench", "train", "--width", "1000000"], status: 2, startsWith: "--width must be in (0, 64]")
    }

    func testBadInputsFoundWhileRunningExitOneWithOneLine() throws {
        try assertOneLine(["eval", "--checkpoint", "/nonexistent/checkpoint"], status: 1, startsWith: "/nonexistent/checkpoint: no such checkpoint folder")
        try assertOneLine(["data", "inspect", "/nonexistent/data"], status: 1, startsWith: "/nonexistent/data: data folder does not exist")
        try assertOneLine(["train", "--config", "/nonexistent/config.yaml"], status: 1, startsWith: "config: /nonexistent/config.yaml")
        try assertOneLine(["report", "/nonexistent/run"], status: 1, startsWith: "/nonexistent/run: no such folder")
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("no-metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        try assertOneLine(["report", empty.path], status: 1, startsWith: "\(empty.path) has no metrics.jsonl: not a run folder")
        try Data("{\"kind\":\"train\",\"step\":1,\"epoch\":0.1,\"loss\":2}\nnot json\n{\"kind\":\"eval\",\"step\":2,\"epoch\":1}\n".utf8)
            .write(to: empty.appendingPathComponent("metrics.jsonl"))
        try assertOneLine(["report", empty.path], status: 1, startsWith: "\(empty.path)/metrics.jsonl")
        try Data().write(to: empty.appendingPathComponent("metrics.jsonl"))
        try assertOneLine(["report", empty.path, "--out", "/nonexistent/report.html"], status: 1,
                          startsWith: "/nonexistent/report.html: cannot write the report")
        // A run folder that cannot be made (a file where a folder should be): the path and the reason, not an NSError dump.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-folder-\(UUID().uuidString)")
        try Data().write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let config = Repository.root.appendingPathComponent("configs/fashion-mnist-resnet20-erm.yaml").path
        try assertOneLine(["train", "--config", config, "--run-dir", file.path + "/run", "--max-steps", "1"], status: 1,
                          startsWith: file.path + "/run: Not a directory; check that the folder exists, is writable and has free space")
    }

    func testHelpStillPrintsUsage() throws {
        let result = try multimix(["train", "--help"])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("USAGE: multimix train --config <config>"), result.output)
    }
}
