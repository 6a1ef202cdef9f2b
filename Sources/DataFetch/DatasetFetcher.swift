import Checksums
import Crypto
import Datasets
import Foundation
import SafeFiles

/// `multimix data fetch`: puts a dataset into a data directory, checked, or leaves nothing behind.
///
/// 1. Where from: the dataset's official URLs (``DatasetManifest``), or `from`: another URL (a
///    mirror), a local archive, or a local folder holding the dataset's files (plain, `.gz` or `.xz`).
/// 2. Downloads resume (``HTTPDownload``); a download's MD5 is compared with the published one:
///    required for an official URL, reported for a mirror (a repack may differ and still be right).
/// 3. Unpacks into `DIR/.fetch-NAME-PID/`, checking every file against the SHA-256 the project ships
///    (a file without one is checked by record structure only, and the output says so), reads every
///    record with the dataset's reader, then renames the folder into place. A failure removes it.
/// 4. One fetch per folder at a time (a lock file); a dataset already in place and intact is left as it is.
public struct DatasetFetcher {
    public var dataset: DatasetName
    /// The data directory (the dataset goes into its folder inside it).
    public var into: String
    /// A URL, local archive or local folder to use instead of the official URLs.
    public var from: String?
    /// The splits to fetch (CIFAR-100's test split alone is enough for out-of-distribution evaluation).
    public var splits: [DatasetSplit]
    public var stallTimeout: Double
    public var retries: Int
    /// Fetch even if the dataset is already in place.
    public var force: Bool
    /// Keep the downloaded archive in DIR/.downloads.
    public var keepDownload: Bool
    public let progress: FetchProgress

    public init(dataset: DatasetName, into: String, from: String?, splits: [DatasetSplit], stallTimeout: Double,
                retries: Int, force: Bool, keepDownload: Bool, progress: FetchProgress = FetchProgress()) {
        self.dataset = dataset
        self.into = into
        self.from = from
        self.splits = splits
        self.stallTimeout = stallTimeout
        self.retries = retries
        self.force = force
        self.keepDownload = keepDownload
        self.progress = progress
    }

    var manifest: DatasetManifest { dataset.manifest }
    /// Where the dataset ends up.
    public var destination: String { (into as NSString).appendingPathComponent(manifest.folder) }
    var wanted: [DatasetManifest.File] { manifest.files(for: splits) }
    var downloadFolder: String { (into as NSString).appendingPathComponent(".downloads") }

    /// Fetches, checks and installs the dataset; returns its folder.
    @discardableResult
    public func run() throws -> String {
        // A bad --from is an error even when the dataset is already in place.
        let origin = try source()
        let lock = try FolderLock.forFetch(of: dataset.rawValue, into: into, downloadFolder: downloadFolder, progress: progress)
        defer { lock.release() }

        if !force, let counts = installedCounts() {
            progress.say("present  \(dataset.rawValue) is already in \(destination) (every file matches its checksum or record checks): nothing to fetch (--force fetches again)")
            report(counts)
            return destination
        }

        let staging = (into as NSString).appendingPathComponent(".fetch-\(dataset.rawValue)-\(getpid())")
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        var installed = false
        defer { if !installed { try? FileManager.default.removeItem(atPath: staging) } }

        var downloaded: [String] = []
        let checker = FileChecker(dataset: dataset, wanted: wanted, progress: progress)
        switch origin {
        case .urls(let urls, let official):
            var allPublished = true
            for (download, candidates) in zip(manifest.downloads, urls) {
                let path = try fetch(download, from: candidates)
                downloaded.append(path)
                do {
                    allPublished = try checkMD5(path, download, official: official) && allPublished
                } catch {
                    try? FileManager.default.removeItem(atPath: path)
                    throw error
                }
            }
            checker.coveredByArchive = allPublished
            do {
                try unpack(downloaded, into: staging, checker: checker)
            } catch {
                for path in downloaded { try? FileManager.default.removeItem(atPath: path) }
                throw FetchError("\(error); the download was deleted: run the command again to fetch it again, or use --from with another mirror")
            }
        case .archive(let path):
            checker.coveredByArchive = try checkMD5(path, manifest.downloads[0], official: false)
            try unpack([path], into: staging, checker: checker)
        case .folder(let folder):
            try copyMirror(folder, into: staging, checker: checker)
        }
        try checker.requireComplete(source: from ?? "the official archive")
        checker.reportUnhashed()

        let counts = try verifyRecords(staging, shownAs: destination)
        try install(staging)
        installed = true
        if !keepDownload { for path in downloaded { try? FileManager.default.removeItem(atPath: path) } }
        try? FileManager.default.removeItem(atPath: downloadFolder)  // only if empty
        report(counts)
        return destination
    }

    // MARK: Sources

    enum Source {
        /// Per download, its URLs in order of preference; `official` when they are the published ones.
        case urls([[URL]], official: Bool)
        case archive(String)
        case folder(String)
    }

    func source() throws -> Source {
        guard let from else {
            return .urls(manifest.downloads.map { $0.urls.compactMap(URL.init(string:)) }, official: true)
        }
        if from.contains("://") {
            guard let url = URL(string: from), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme) else {
                throw FetchError("--from \(from): not an http(s) URL; give an http:// or https:// URL, a local archive or a local folder")
            }
            switch manifest.packing {
            case .tarGz:
                if url.path.hasSuffix("/") {
                    return .urls([[url.appendingPathComponent(manifest.downloads[0].name)]], official: false)
                }
                return .urls([[url]], official: manifest.downloads[0].urls.contains(from))
            case .gzipPerFile:
                guard !url.path.hasSuffix(".gz") else {
                    throw FetchError("--from \(from): \(dataset.rawValue) is \(manifest.downloads.count) files; give the URL of the folder that holds \(manifest.downloads.map(\.name).joined(separator: ", "))")
                }
                let base = from.hasSuffix("/") ? from : from + "/"
                let urls = manifest.downloads.map { [URL(string: base + $0.name)].compactMap { $0 } }
                return .urls(urls, official: manifest.downloads.allSatisfy { $0.urls.contains(base + $0.name) })
            }
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: from, isDirectory: &isFolder) else {
            throw FetchError("--from \(from): no such file or folder; give a URL, the dataset's archive or a folder holding its files")
        }
        if isFolder.boolValue { return .folder(from) }
        // A FIFO or a device (/dev/zero) would be read forever.
        try SafeFile.requireReadableFile(from, what: "--from")
        guard HTTPDownload.size(of: from) <= maximumDownloadBytes else {
            throw FetchError("--from \(from): \(HTTPDownload.size(of: from)) bytes, more than \(dataset.rawValue)'s archive can be (\(maximumDownloadBytes)); give the dataset's archive")
        }
        guard manifest.packing == .tarGz else {
            throw FetchError("--from \(from): \(dataset.rawValue) is \(manifest.downloads.count) files, not one archive; give the folder that holds \(manifest.downloads.map(\.name).joined(separator: ", "))")
        }
        return .archive(from)
    }

    /// Downloads `download` from the first of `urls` that works, into DIR/.downloads.
    func fetch(_ download: DatasetManifest.Download, from urls: [URL]) throws -> String {
        let path = (downloadFolder as NSString).appendingPathComponent(download.name)
        if FileManager.default.fileExists(atPath: path) || (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil {
            // Only a regular file that an earlier fetch kept: a link or a device here is someone else's.
            guard SafeFile.isRegularFile(path), HTTPDownload.size(of: path) <= maximumDownloadBytes else {
                throw FetchError("\(path): is not a download an earlier fetch kept (not a regular file, or bigger than \(maximumDownloadBytes) bytes); remove it and fetch again")
            }
            progress.say("reuse    \(path) (kept by an earlier fetch)")
            return path
        }
        var failures: [String] = []
        for url in urls {
            progress.say("download \(url.absoluteString)")
            do {
                try HTTPDownload(url: url, destination: path, stallTimeout: stallTimeout, retries: retries,
                                 maximumBytes: maximumDownloadBytes).run(progress: progress)
                return path
            } catch {
                failures.append("\(error)")
                if url != urls.last { progress.say("failed   \(error); trying the next address") }
            }
        }
        throw FetchError(failures.joined(separator: "; also: "))
    }

    /// Compares the MD5 of `path` with the published one. For an official URL a difference is an
    /// error; otherwise it is reported and every file is held to its SHA-256. True when it matches.
    func checkMD5(_ path: String, _ download: DatasetManifest.Download, official: Bool) throws -> Bool {
        let md5 = try Insecure.MD5.hash(file: URL(fileURLWithPath: path)).hex
        if md5 == download.md5 {
            progress.say("checked  \(download.name): MD5 \(md5), the published value: the official file")
            return true
        }
        if official {
            throw FetchError("\(path): MD5 \(md5) differs from the published \(download.md5): the download is damaged or the site now serves another file")
        }
        progress.say("checked  \(download.name): not the official file byte for byte (MD5 \(md5), published \(download.md5)), as a mirror's repack may be: every file is held to its SHA-256 instead")
        return false
    }

    // MARK: Unpacking

    /// The largest file of the dataset (a file of unknown size, such as a readme, counts as 64 KiB):
    /// nothing unpacked may be bigger.
    var largestFileBytes: Int { manifest.files.map { $0.size ?? TarReader.maximumMetadataBytes }.max() ?? 0 }

    /// The most bytes a download of the dataset may have: its files' sizes, with room for compression
    /// that does not shrink them, and the tar headers (an endless or bloated answer is cut off).
    var maximumDownloadBytes: Int64 {
        let total = manifest.files.map { $0.size ?? TarReader.maximumMetadataBytes }.reduce(0, +)
        return Int64(total) + Int64(total / 50) + (1 << 20)
    }

    func unpack(_ paths: [String], into staging: String, checker: FileChecker) throws {
        switch manifest.packing {
        case .tarGz:
            let archive = paths[0]
            progress.say("unpack   \(archive)")
            let names = Set(manifest.files.map(\.name))
            let wantedNames = Set(wanted.map(\.name))
            try TarReader.extract(try GzipStream(archive, requireGzip: true), archive: archive,
                                  maximumMemberBytes: largestFileBytes, destination: { entry in
                let parts = entry.split(separator: "/").filter { $0 != "." }
                guard parts.count == 2, parts[0] == manifest.folder, names.contains(String(parts[1])) else { return nil }
                let name = String(parts[1])
                return wantedNames.contains(name) ? (staging as NSString).appendingPathComponent(name) : nil
            }, written: { entry, sha, size in
                try checker.check((entry as NSString).lastPathComponent, sha256: sha, size: size, source: archive)
            })
        case .gzipPerFile:
            for (path, download) in zip(paths, manifest.downloads) {
                let name = String(download.name.dropLast(3))
                guard wanted.contains(where: { $0.name == name }) else { continue }
                try write(GzipStream(path, requireGzip: true), name: name, staging: staging, source: path, checker: checker)
            }
        }
    }

    /// Copies the dataset's files from a mirror folder (`folder` itself or its dataset subfolder),
    /// each plain, `.gz` or `.xz`.
    func copyMirror(_ folder: String, into staging: String, checker: FileChecker) throws {
        let roots = [folder, (folder as NSString).appendingPathComponent(manifest.folder)]
        progress.say("copy     \(dataset.rawValue) from the folder \(folder)")
        for file in wanted {
            let candidates = roots.flatMap { root in ["", ".gz", ".xz"].map { (root as NSString).appendingPathComponent(file.name + $0) } }
            guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
                if file.required {
                    throw FetchError("--from \(folder): has no \(file.name) (nor .gz or .xz), here or in \(manifest.folder)/; a mirror folder holds the dataset's files as the official archive unpacks them (--split test fetches the test split alone)")
                }
                continue
            }
            try SafeFile.requireReadableFile(path, what: "--from")
            let stream: ByteStream = path.hasSuffix(".xz") ? try XZStream(path) : try GzipStream(path, requireGzip: path.hasSuffix(".gz"))
            try write(stream, name: file.name, staging: staging, source: path, checker: checker)
        }
    }

    private func write(_ stream: ByteStream, name: String, staging: String, source: String, checker: FileChecker) throws {
        let sink = try HashingFile((staging as NSString).appendingPathComponent(name))
        let limit = manifest.files.first { $0.name == name }?.size ?? TarReader.maximumMetadataBytes
        try stream.copyAll(to: sink, limit: limit, source: source)
        let (sha, size) = try sink.finish()
        try checker.check(name, sha256: sha, size: size, source: source)
    }

    // MARK: Checks and installing

    /// Image counts per split, read with the dataset's reader from `folder`; errors name `shownAs`.
    func verifyRecords(_ folder: String, shownAs: String) throws -> [(DatasetSplit, Int, Int)] {
        let source = DatasetSource(dataset, root: folder)
        let expected: [DatasetSplit: Int] = dataset.format == .idx ? [.train: 60_000, .test: 10_000] : [.train: 50_000, .test: 10_000]
        return try splits.map { split in
            let images: ImageDataset
            do {
                images = try source.load(split)
            } catch {
                throw FetchError("\(error)".replacingOccurrences(of: folder, with: shownAs))
            }
            guard images.count == expected[split] else {
                throw FetchError("\(shownAs): the \(split) split has \(images.count) images, \(dataset.rawValue) has \(expected[split]!); the files are not the official ones")
            }
            return (split, images.count, images.classCount)
        }
    }

    /// The image counts of an intact dataset already at the destination, or nil.
    func installedCounts() -> [(DatasetSplit, Int, Int)]? {
        guard FileManager.default.fileExists(atPath: destination) else { return nil }
        for file in wanted where file.required {
            let path = (destination as NSString).appendingPathComponent(file.name)
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            if let size = file.size, HTTPDownload.size(of: path) != Int64(size) { return nil }
            if let sha = file.sha256, (try? SHA256.hash(file: URL(fileURLWithPath: path)).hex) != sha {
                progress.say("damaged  \(path) does not match its SHA-256: fetching again")
                return nil
            }
        }
        return try? verifyRecords(destination, shownAs: destination)
    }

    /// Renames the checked staging folder into place (an older copy is moved aside, then removed).
    func install(_ staging: String) throws {
        try FolderInstall.move(staging, to: destination, aside: (into as NSString).appendingPathComponent(".fetch-\(dataset.rawValue)-old-\(getpid())"))
    }

    func report(_ counts: [(DatasetSplit, Int, Int)]) {
        let splitText = counts.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
        progress.say("ready    \(dataset.rawValue) in \(destination): \(splitText) images, \(counts.first?.2 ?? 0) classes, every record read")
        let isDefault = destination == dataset.defaultRoot(dataDirectory: DatasetSource.relativeDataDirectory)
        let hint = isDefault ? "the default for \(dataset.rawValue) configs run from this folder"
            : dataset == .fashionMNIST && into == DatasetSource.relativeDataDirectory
                ? "fashion-mnist configs default to Debian's /usr/share/datasets/fashion-mnist: set data.root, or --set data.root=\(destination)"
                : "set data.root in the config, or --set data.root=\(destination)"
        progress.say("data.root: \(destination)   (\(hint))")
    }
}

/// Holds each unpacked file to the manifest: SHA-256 where one is shipped, size otherwise.
final class FileChecker {
    let dataset: DatasetName
    let wanted: [DatasetManifest.File]
    let progress: FetchProgress
    /// Whether the files came out of a download whose MD5 matched the published one.
    var coveredByArchive = false
    private(set) var seen: Set<String> = []

    init(dataset: DatasetName, wanted: [DatasetManifest.File], progress: FetchProgress) {
        self.dataset = dataset
        self.wanted = wanted
        self.progress = progress
    }

    func check(_ name: String, sha256: String, size: Int, source: String) throws {
        guard let file = wanted.first(where: { $0.name == name }) else { return }
        let shown = "\(source): \(dataset.fetchFolder)/\(name)"
        if let expected = file.sha256, expected != sha256 {
            let sizes = file.size.map { " (\(size) bytes; the official file has \($0))" } ?? " (\(size) bytes)"
            throw FetchError("\(shown): SHA-256 \(sha256)\(sizes) is not the expected \(expected): the file is damaged or is not the official \(dataset.rawValue) file")
        }
        // A file the project ships no SHA-256 for may still be another dataset's, recognised by its own.
        if file.sha256 == nil, let other = DatasetName.allCases.first(where: { other in
            other != dataset && other.manifest.files.contains { $0.sha256 == sha256 }
        }) {
            throw FetchError("\(shown): is \(other.rawValue)'s \(name) (its SHA-256 is the one the project ships for \(other.rawValue)), not \(dataset.rawValue)'s; fetch it as \(other.rawValue), or give a source of \(dataset.rawValue)")
        }
        if let expectedSize = file.size, expectedSize != size {
            throw FetchError("\(shown): \(size) bytes, the official file has \(expectedSize): the file is damaged or is not the official \(dataset.rawValue) file")
        }
        seen.insert(name)
    }

    func requireComplete(source: String) throws {
        let missing = wanted.filter { $0.required && !seen.contains($0.name) }.map { "\(dataset.fetchFolder)/\($0.name)" }
        guard missing.isEmpty else {
            throw FetchError("\(source): has no \(missing.joined(separator: ", ")); it is not \(dataset.rawValue) in the official layout")
        }
    }

    /// Says which files were checked without a SHA-256 (none, when the download was the official file).
    func reportUnhashed() {
        let hashed = wanted.filter { $0.sha256 != nil && seen.contains($0.name) }.count
        progress.say("checked  \(hashed) file\(hashed == 1 ? "" : "s") against the SHA-256s the project ships")
        guard !coveredByArchive else { return }
        for file in wanted where file.sha256 == nil && file.required && seen.contains(file.name) {
            let how = file.split == nil ? "by the reader (the count of names)" : "by record structure only (size, header, label ranges)"
            progress.say("note     \(file.name): the project ships no SHA-256 for it (none computed from a real copy yet); checked \(how)")
        }
    }
}

/// An exclusive lock on a file (flock), held while one process fetches into a folder: a second fetch
/// of the same dataset into the same folder waits, then finds the dataset in place.
final class FolderLock {
    private let descriptor: Int32

    init(path: String, progress: FetchProgress, what: String) throws {
        descriptor = try SafeFile.open(path, flags: O_CREAT | O_RDWR)
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            progress.say("waiting  for another \(what) to finish")
            flock(descriptor, LOCK_EX)
        }
    }

    /// Makes the data folder and its download folder, then takes the lock of fetching `name` into it.
    static func forFetch(of name: String, into: String, downloadFolder: String, progress: FetchProgress) throws -> FolderLock {
        do {
            try FileManager.default.createDirectory(atPath: downloadFolder, withIntermediateDirectories: true)
        } catch {
            throw FetchError("\(into): cannot create the data folder (\(error.localizedDescription)); choose a writable folder with --into")
        }
        return try FolderLock(path: (into as NSString).appendingPathComponent(".fetch-\(name).lock"),
                              progress: progress, what: "`multimix data fetch \(name)` into \(into)")
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
