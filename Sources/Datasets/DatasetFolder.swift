import Foundation

/// Checks on a dataset's folder shared by the readers.
enum DatasetFolder {
    /// Throws a ``DatasetError`` of kind `missing` unless `path` is an existing folder.
    static func requireFolder(_ path: String) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw DatasetError(.missing, path: path, problem: "data folder does not exist",
                               fix: "fetch it with `multimix data fetch DATASET` (cifar10, cifar100, mnist or fashion-mnist), or point data.root (or the PATH argument) at the unpacked official archive")
        }
        guard isFolder.boolValue else {
            throw DatasetError(.missing, path: path, problem: "is a file, not a data folder",
                               fix: "point data.root (or the PATH argument) at the folder that holds the dataset's files")
        }
    }

    /// Non-empty, trimmed lines of the text file at `path`, or nil if it does not exist.
    static func lines(_ path: String) throws -> [String]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let bytes = try FileBytes.read(path)
        return String(decoding: bytes, as: UTF8.self)
            .split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }
}
