import Foundation
import XCTest

/// The built `multimix` run on a bad input, which must be refused the way every input is: exit 1, the
/// last line `multimix: error: …` holding `text`, within `timeout` (a hang is a failure), no crash.
public enum ToolRefusal {
    /// Runs `multimix arguments` (a skip when the tool is not built) and checks the refusal; returns the error line.
    @discardableResult
    public static func assert(_ arguments: [String], _ text: String, timeout: Double = 60,
                              file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try run(arguments, timeout: timeout, environment: ["MULTIMIX_PROGRESS": "lines"])
        XCTAssertFalse(result.timedOut, "\(arguments) hung: \(result.output)", file: file, line: line)
        XCTAssertEqual(result.status, 1, "\(arguments): \(result.output)", file: file, line: line)
        let last = result.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.hasPrefix("multimix: error: ") && last.contains(text), "\(arguments): \(result.output)", file: file, line: line)
        XCTAssertFalse(result.output.contains("Fatal error") || result.output.contains("Trace/breakpoint"), result.output, file: file, line: line)
        return last
    }

    /// Runs the built `multimix arguments` (a skip when the tool is not built).
    public static func run(_ arguments: [String], timeout: Double = 60, environment: [String: String] = [:]) throws -> MPIRun.Result {
        let tool = MPIRun.executable("multimix")
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw XCTSkip("\(tool) not built (swift build builds it; or set MULTIMIX_BIN_DIR)")
        }
        return try MPIRun.launch([tool] + arguments, timeout: timeout, environment: environment)
    }

    /// Runs `multimix arguments` and checks that its whole output is one line `multimix: error: PREFIX…`
    /// and its exit status `status` (2 for a bad command line, 1 for bad input found while running).
    public static func assertOneLine(_ arguments: [String], status: Int32, startsWith prefix: String,
                                     file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try run(arguments)
        let text = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(result.status, status, "\(arguments): \(text)", file: file, line: line)
        XCTAssertFalse(text.contains("\n"), "\(arguments): not one line: \(text)", file: file, line: line)
        XCTAssertTrue(text.hasPrefix("multimix: error: " + prefix), "\(arguments): \(text)", file: file, line: line)
    }
}
