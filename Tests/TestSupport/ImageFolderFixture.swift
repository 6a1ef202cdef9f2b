import Foundation
import XCTest

/// Image folders for the tests, written by `../shared/reference/make_image_folder.py` (Pillow) from
/// the CIFAR-10 copy in `../shared/data`: `ROOT/train/CLASS/*.jpg`, `ROOT/val/CLASS/*.jpg`, and with
/// `corrupt` one bad file of each kind in `ROOT/bad/airplane/`. Made once per test process and
/// argument set, in the temporary folder.
public enum ImageFolderFixture {
    /// The reference script beside the repository (the local mirror of what users download).
    public static let script = Repository.root.deletingLastPathComponent().appendingPathComponent("shared/reference/make_image_folder.py")

    nonisolated(unsafe) private static var made: [String: String] = [:]
    private static let lock = NSLock()

    /// The folder for these arguments (made on first use).
    public static func folder(size: Int = 32, trainPerClass: Int = 20, valPerClass: Int = 5, format: String = "jpg",
                              corrupt: Bool = false) throws -> String {
        let key = "\(size)-\(trainPerClass)-\(valPerClass)-\(format)-\(corrupt)"
        if let path = lock.withLock({ made[key] }) { return path }
        guard FileManager.default.fileExists(atPath: script.path) else {
            let problem = "no \(script.path) (the shared reference scripts beside the repository)"
            if ProcessInfo.processInfo.environment["CI"]?.lowercased() == "true" { throw PythonReferenceMissing(description: problem) }
            throw XCTSkip(problem)
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("multimix-image-folder-\(key)-\(UUID().uuidString)").path
        var arguments = [script.path, path, "--size", "\(size)", "--train-per-class", "\(trainPerClass)",
                         "--val-per-class", "\(valPerClass)", "--format", format]
        if corrupt { arguments.append("--corrupt") }
        let result = try PythonReference.runImages(arguments, timeout: 300)
        guard result.status == 0 else {
            XCTFail("make_image_folder.py failed: \(result.output)")
            throw XCTSkip("no image folder")
        }
        lock.withLock { made[key] = path }
        return path
    }
}
