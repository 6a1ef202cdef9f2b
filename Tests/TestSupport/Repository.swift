import Foundation
import XCTest

/// Where the tests find the repository and the data that launch/setup.sh unpacked.
public enum Repository {
    /// The repository's root folder (this file is Tests/TestSupport/Repository.swift).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The unpacked datasets: `$MULTIMIX_DATA_DIR` (when set and not empty), else `<root>/.cache/data`.
    /// A fresh empty folder under the temporary directory, for a test that runs the tool for real;
    /// throws XCTSkip first when Debian's Fashion-MNIST (what those runs train on) is not installed.
    public static func runFolderWithFashionMNIST(prefix: String) throws -> URL {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST is missing: run launch/setup.sh (installs dataset-fashion-mnist)")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    public static var dataDirectory: String {
        if let folder = ProcessInfo.processInfo.environment["MULTIMIX_DATA_DIR"], !folder.isEmpty { return folder }
        return root.appendingPathComponent(".cache/data").path
    }
}
