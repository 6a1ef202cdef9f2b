import Foundation

/// Where the tests find the repository and the data that launch/setup.sh unpacked.
public enum Repository {
    /// The repository's root folder (this file is Tests/TestSupport/Repository.swift).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The unpacked datasets: `$MULTIMIX_DATA_DIR` (when set and not empty), else `<root>/.cache/data`.
    public static var dataDirectory: String {
        if let folder = ProcessInfo.processInfo.environment["MULTIMIX_DATA_DIR"], !folder.isEmpty { return folder }
        return root.appendingPathComponent(".cache/data").path
    }
}
