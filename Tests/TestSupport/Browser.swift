import Foundation
import XCTest

/// A real headless browser (Chromium, Debian's `chromium`) for tests that look at the pages the
/// project writes: a screenshot, the DOM after rendering, and the browser's log of console messages.
///
/// `launch/test.sh` installs it (through `launch/setup.sh` with `MULTIMIX_TEST_BROWSER=1`); name
/// another one with `$MULTIMIX_TEST_CHROMIUM`. Where it is missing, a test that needs it fails in CI
/// (`CI=true`: the check must run there) and is skipped elsewhere, saying what to install.
public enum Browser {
    /// What one page gave.
    public struct Page {
        /// The DOM after loading, as `--dump-dom` prints it.
        public var dom: String
        /// The browser's output while loading it (`--enable-logging=stderr`): console messages appear as
        /// `INFO:CONSOLE… "message", source: …`.
        public var log: String
        /// The PNG screenshot.
        public var screenshot: URL

        /// Console messages and uncaught script errors in the log (the pages have no scripts: any is wrong).
        public var consoleMessages: [String] {
            log.split(separator: "\n").map(String.init).filter { $0.contains(":CONSOLE") || $0.contains("Uncaught") }
        }
    }

    /// `$MULTIMIX_TEST_CHROMIUM`, else the first of chromium, chromium-browser, google-chrome in /usr/bin.
    static var executable: String? {
        if let path = ProcessInfo.processInfo.environment["MULTIMIX_TEST_CHROMIUM"], !path.isEmpty { return path }
        return ["chromium", "chromium-browser", "google-chrome"].map { "/usr/bin/" + $0 }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The browser, or (where there is none) a failure in CI and a skip elsewhere.
    public static func require() throws -> String {
        if let executable, FileManager.default.isExecutableFile(atPath: executable) { return executable }
        let fix = "install it: apt-get install chromium (bash launch/test.sh does, through MULTIMIX_TEST_BROWSER=1 bash launch/setup.sh), or point MULTIMIX_TEST_CHROMIUM at a Chromium"
        if PythonReference.isCI { throw BrowserMissing(description: "CI=true and no headless browser; \(fix)") }
        throw XCTSkip("no headless browser; \(fix)")
    }

    /// Loads `html` (a file) twice in headless Chromium at `width`×`height`: once for the screenshot,
    /// written to `screenshot`, once for the DOM and the console log.
    public static func load(_ html: URL, screenshot: URL, width: Int = 1200, height: Int = 2400) throws -> Page {
        let chromium = try require()
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: profile) }
        try FileManager.default.createDirectory(at: screenshot.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: screenshot)
        let common = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                      "--user-data-dir=\(profile.path)", "--window-size=\(width),\(height)"]
        let shot = try MPIRun.launch(common + ["--screenshot=\(screenshot.path)", html.absoluteString], timeout: 90)
        guard shot.status == 0, FileManager.default.fileExists(atPath: screenshot.path) else {
            throw BrowserMissing(description: "\(chromium) wrote no screenshot of \(html.path) (status \(shot.status)): \(shot.output.suffix(2000))")
        }
        // stdout (the DOM) and stderr (the log) are captured together: the DOM is what follows <!DOCTYPE.
        let dump = try MPIRun.launch(common + ["--enable-logging=stderr", "--v=0", "--dump-dom", html.absoluteString], timeout: 90)
        guard dump.status == 0, let start = dump.output.range(of: "<!DOCTYPE html>", options: .caseInsensitive),
              let end = dump.output.range(of: "</html>", options: .backwards) else {
            throw BrowserMissing(description: "\(chromium) printed no DOM for \(html.path) (status \(dump.status)): \(dump.output.suffix(2000))")
        }
        // (The whole output is the log: a log line written while the DOM was printed is not lost.)
        return Page(dom: String(dump.output[start.lowerBound..<end.upperBound]), log: dump.output, screenshot: screenshot)
    }
}

/// The browser check cannot run: a failure, not a skip.
public struct BrowserMissing: Error, CustomStringConvertible {
    public let description: String
}
