import Foundation
import TestSupport
import XCTest

/// `multimix metrics RUN [--skip-steps N] [--json]` on a metrics.jsonl written here, its medians
/// worked out by hand; a missing or damaged log refused in one line with exit 1, a bad flag with exit 2.
final class MetricsCommandTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-command-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // Steps 1-2 are the warm-up; step 5's exposed_comm_ms is null (left out of that median and of
        // the share's); the eval record is no train record.
        let lines = [
            #"{"kind":"train","step":1,"epoch":0.1,"data_wait_fraction":0.9,"exposed_comm_ms":9,"images_per_s":100,"step_ms":90}"#,
            #"{"kind":"train","step":2,"epoch":0.2,"data_wait_fraction":0.8,"exposed_comm_ms":8,"images_per_s":200,"step_ms":80}"#,
            #"{"kind":"train","step":3,"epoch":0.3,"data_wait_fraction":0.1,"exposed_comm_ms":2,"images_per_s":300,"step_ms":20}"#,
            #"{"kind":"eval","step":3,"epoch":0.3,"top1":0.5,"step_ms":1000}"#,
            #"{"kind":"train","step":4,"epoch":0.4,"data_wait_fraction":0.3,"exposed_comm_ms":10,"images_per_s":500,"step_ms":40}"#,
            #"{"kind":"train","step":5,"epoch":0.5,"data_wait_fraction":0.2,"exposed_comm_ms":null,"images_per_s":400,"step_ms":30}"#,
            #"{"kind":"train","step":6,"epoch":0.6,"data_wait_fraction":0.4,"exposed_comm_ms":5,"images_per_s":350,"step_ms":50}"#,
        ]
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: folder.appendingPathComponent("metrics.jsonl"))
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func multimix(_ arguments: [String]) throws -> MPIRun.Result {
        try ToolRefusal.run(["metrics"] + arguments)
    }

    func object(_ arguments: [String]) throws -> [String: Any] {
        let result = try multimix(arguments + ["--json"])
        XCTAssertEqual(result.status, 0, result.output)
        let text = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(text.contains("\n"), "not one line: \(text)")
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    func testMediansAfterTheWarmUpByHand() throws {
        let summary = try object([folder.path, "--skip-steps", "2"])
        XCTAssertEqual(Set(summary.keys), ["records", "skip_steps", "images_per_s", "step_ms", "exposed_comm_ms",
                                           "data_wait_fraction", "exposed_share"])
        XCTAssertEqual(summary["records"] as? Int, 4)
        XCTAssertEqual(summary["skip_steps"] as? Int, 2)
        // Steps 3-6: images/s 300 500 400 350 -> (350 + 400) / 2; step ms 20 40 30 50 -> (30 + 40) / 2;
        // exposed 2 10 5 (step 5's null left out) -> 5; data wait .1 .3 .2 .4 -> (.2 + .3) / 2;
        // exposed / step 2/20 10/40 5/50 = .1 .25 .1 -> .1.
        let expected = ["images_per_s": 375, "step_ms": 35, "exposed_comm_ms": 5, "data_wait_fraction": 0.25, "exposed_share": 0.1]
        for (key, value) in expected {
            XCTAssertEqual(try XCTUnwrap(summary[key] as? Double, key), value, accuracy: 1e-12, key)
        }
        // The file itself as RUN, no warm-up: all 6 train records; images/s 100 200 300 350 400 500.
        let all = try object([folder.appendingPathComponent("metrics.jsonl").path])
        XCTAssertEqual(all["records"] as? Int, 6)
        XCTAssertEqual(try XCTUnwrap(all["images_per_s"] as? Double), 325, accuracy: 1e-12)
    }

    func testTextNamesTheRecordsAndEachMedian() throws {
        let result = try multimix([folder.path, "--skip-steps", "2"])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("metrics.jsonl: medians of 4 train records after step 2"), result.output)
        for (label, value) in [("images/s", "375.0000"), ("step ms", "35.0000"), ("exposed comm ms", "5.0000"),
                               ("data wait fraction", "0.2500"), ("exposed share of the step", "0.1000")] {
            XCTAssertTrue(result.output.split(separator: "\n").contains { $0.hasPrefix("  " + label + " ") && $0.hasSuffix(" " + value) },
                          "\(label): \(result.output)")
        }
    }

    private func assertRefused(_ arguments: [String], status: Int32, startsWith prefix: String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        try ToolRefusal.assertOneLine(["metrics"] + arguments, status: status, startsWith: prefix, file: file, line: line)
    }

    func testMissingOrDamagedLogsAndBadFlagsAreRefusedInOneLine() throws {
        try assertRefused(["/nonexistent/run"], status: 1, startsWith: "/nonexistent/run: cannot read it")
        let empty = folder.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try assertRefused([empty.path], status: 1, startsWith: "\(empty.path)/metrics.jsonl: cannot read it")
        try assertRefused([folder.path, "--skip-steps", "6"], status: 1,
                          startsWith: "\(folder.path)/metrics.jsonl: no train records after step 6; lower --skip-steps")
        let log = folder.appendingPathComponent("metrics.jsonl")
        let text = try String(contentsOf: log, encoding: .utf8)
        try Data(text.replacingOccurrences(of: #"{"kind":"eval""#, with: #"{"kind":"eval"#).utf8).write(to: log)
        try assertRefused([folder.path], status: 1, startsWith: "\(log.path): line 4 is not a metrics record")
        try assertRefused([folder.path, "--bogus"], status: 2, startsWith: "Unknown option '--bogus'")
        try assertRefused([folder.path, "--skip-steps=-1"], status: 2, startsWith: "--skip-steps must be at least 0")
        try assertRefused([folder.path, "--skip-steps", "x"], status: 2, startsWith: "The value 'x' is invalid for '--skip-steps")
        try assertRefused([], status: 2, startsWith: "Missing expected argument '<run>'")
    }
}
