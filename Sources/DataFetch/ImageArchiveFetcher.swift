import Checksums
import Crypto
import Datasets
import Foundation
import SafeFiles

/// Image sets fetched as archives, published with no checksum: Tiny ImageNet (cs231n's zip: 200
/// classes of 64×64 images, unpacked to `train/CLASS/` and `val/CLASS/`, an image folder), and the
/// out-of-distribution sets of ODIN (Liang et al. 2018) that the MultiMix paper's OOD table uses,
/// tar.gz archives of images without classes on Dropbox.
public enum ImageArchiveName: String, CaseIterable, Sendable {
    case tinyimagenet
    case lsunCrop = "lsun-crop", lsunResize = "lsun-resize", isun
    case tinyimagenetCrop = "tinyimagenet-crop", tinyimagenetResize = "tinyimagenet-resize"

    /// The names, for messages.
    public static let choices = allCases.map(\.rawValue).joined(separator: ", ")

    /// The archive's name as ODIN publishes it.
    public var fileName: String {
        switch self {
        case .tinyimagenet: return "tiny-imagenet-200.zip"
        case .lsunCrop: return "LSUN.tar.gz"
        case .lsunResize: return "LSUN_resize.tar.gz"
        case .isun: return "iSUN.tar.gz"
        case .tinyimagenetCrop: return "Imagenet.tar.gz"
        case .tinyimagenetResize: return "Imagenet_resize.tar.gz"
        }
    }

    /// The official address (ODIN's README, facebookresearch/odin; `dl=1` asks Dropbox for the file
    /// rather than its web page).
    public var url: String {
        let id: String
        switch self {
        case .tinyimagenet: return "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
        case .lsunCrop: id = "fhtsw1m3qxlwj6h"
        case .lsunResize: id = "moqh2wh8696c3yl"
        case .isun: id = "ssz7qxfqae0cca5"
        case .tinyimagenetCrop: id = "avgm2u562itwpkl"
        case .tinyimagenetResize: id = "kp3my3412u5k9rl"
        }
        return "https://www.dropbox.com/s/\(id)/\(fileName)?dl=1"
    }

    /// What the set is: 10,000 32×32 images each (iSUN 8,925).
    public var summary: String {
        switch self {
        case .tinyimagenet: return "Tiny ImageNet, 200 classes of 64x64 images; its unlabelled test/ is left out"
        case .lsunCrop: return "LSUN test images, random 32x32 crops"
        case .lsunResize: return "LSUN test images resized to 32x32"
        case .isun: return "iSUN, 8,925 images resized to 32x32"
        case .tinyimagenetCrop: return "Tiny ImageNet test images, random 32x32 crops"
        case .tinyimagenetResize: return "Tiny ImageNet test images resized to 32x32"
        }
    }

    /// The size cap of a download: 400 MB for Tiny ImageNet's 237 MB zip, 200 MB for ODIN's 17 to 25 MB archives.
    public var defaultMaxBytes: Int64 { self == .tinyimagenet ? 400 << 20 : 200 << 20 }
}

/// `multimix data fetch lsun-crop` and the other ODIN sets: downloads the archive (or takes `from`:
/// a mirror URL or a local archive), at most `maxBytes`; records and prints its SHA-256 (none is
/// published, so none is checked); unpacks its images, and nothing else, below `DIR/NAME/`, writing
/// no file through a symbolic link and refusing entries that would land outside; installs the folder
/// when it holds images. The folder serves as `eval.ood: [{name: NAME, dataset: image-folder, root: DIR/NAME}]`.
public struct ImageArchiveFetcher {
    public var archive: ImageArchiveName
    public var into: String
    public var from: String?
    public var stallTimeout: Double
    public var retries: Int
    public var force: Bool
    public var keepDownload: Bool
    /// The most bytes a download (or a local archive) may have; unpacked images may total 8 times that.
    public var maxBytes: Int64
    public let progress: FetchProgress

    public init(archive: ImageArchiveName, into: String, from: String?, stallTimeout: Double, retries: Int, force: Bool,
                keepDownload: Bool, maxBytes: Int64? = nil, progress: FetchProgress = FetchProgress()) {
        self.archive = archive
        self.into = into
        self.from = from
        self.stallTimeout = stallTimeout
        self.retries = retries
        self.force = force
        self.keepDownload = keepDownload
        self.maxBytes = maxBytes ?? archive.defaultMaxBytes
        self.progress = progress
    }

    /// Where the images end up.
    public var destination: String { (into as NSString).appendingPathComponent(archive.rawValue) }
    /// The SHA-256 of the fetched archive, in `sha256sum`'s format, beside the images.
    public static let checksumFile = "fetched-archive.sha256"
    var downloadFolder: String { (into as NSString).appendingPathComponent(".downloads") }

    @discardableResult
    public func run() throws -> String {
        let origin = try source()
        let lock = try FolderLock.forFetch(of: archive.rawValue, into: into, downloadFolder: downloadFolder, progress: progress)
        defer { lock.release() }
        let recorded = (destination as NSString).appendingPathComponent(Self.checksumFile)
        if !force, FileManager.default.fileExists(atPath: recorded), let images = try? ImageFolderListing.unlabelledImages(in: destination) {
            progress.say("present  \(archive.rawValue) is already in \(destination) (\(images.count) images): nothing to fetch (--force fetches again)")
            return destination
        }

        var downloaded: String? = nil
        let path: String
        switch origin {
        case .url(let url):
            path = (downloadFolder as NSString).appendingPathComponent(archive.fileName)
            try? FileManager.default.removeItem(atPath: path)
            progress.say("download \(url.absoluteString)")
            var download = HTTPDownload(url: url, destination: path, stallTimeout: stallTimeout, retries: retries)
            download.maximumBytes = maxBytes
            try download.run(progress: progress)
            downloaded = path
        case .archive(let local):
            let size = HTTPDownload.size(of: local)
            guard size <= maxBytes else {
                throw FetchError("--from \(local): \(size) bytes, more than the \(maxBytes) allowed for \(archive.rawValue); check the file, or raise --max-size")
            }
            path = local
        }
        defer { if let downloaded, !keepDownload { try? FileManager.default.removeItem(atPath: downloaded) } }

        let sha = try SHA256.hash(file: URL(fileURLWithPath: path)).hex
        progress.say("sha256   \(sha)  \(archive.fileName) (\(HTTPDownload.size(of: path)) bytes; no checksum is published for \(archive.rawValue), so none is checked: compare it with a copy you trust)")

        let staging = (into as NSString).appendingPathComponent(".fetch-\(archive.rawValue)-\(getpid())")
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        var installed = false
        defer { if !installed { try? FileManager.default.removeItem(atPath: staging) } }

        progress.say("unpack   \(path)")
        let budget = maxBytes * 8
        let count: String
        if archive == .tinyimagenet {
            try Self.unpackTinyImageNet(path, into: staging, maxTotalBytes: Int(budget))
            let listing: ImageFolderListing
            do {
                listing = try ImageFolderListing(root: staging)
            } catch {
                throw FetchError("\(path): does not unpack to Tiny ImageNet's train/CLASS and val/CLASS (\("\(error)".replacingOccurrences(of: staging, with: destination))); use --from with another copy")
            }
            count = "train \(listing.train.count), val \(listing.validation?.count ?? 0) images, \(listing.classNames.count) classes"
        } else {
            try TarReader.extract(try GzipStream(path, requireGzip: true), archive: path, maximumMemberBytes: Int(budget), maxTotalBytes: Int(budget), destination: { entry in
                try Self.target(of: entry, in: staging, archive: path)
            }, written: { _, _, _ in })
            do {
                count = "\(try ImageFolderListing.unlabelledImages(in: staging).count) images"
            } catch {
                throw FetchError("\(path): the archive holds no images (.jpg, .jpeg, .png); it is not \(archive.rawValue): use --from with another copy")
            }
        }
        try Data("\(sha)  \(archive.fileName)\n".utf8).write(to: URL(fileURLWithPath: (staging as NSString).appendingPathComponent(Self.checksumFile)))
        try FolderInstall.move(staging, to: destination, aside: (into as NSString).appendingPathComponent(".fetch-\(archive.rawValue)-old-\(getpid())"))
        installed = true
        try? FileManager.default.removeItem(atPath: downloadFolder)  // only if empty
        progress.say("ready    \(archive.rawValue) in \(destination): \(count) (\(archive.summary)), SHA-256 recorded in \(Self.checksumFile)")
        if archive == .tinyimagenet {
            progress.say("data: {dataset: image-folder, root: \(destination), image_size: 64}")
        } else {
            progress.say("eval.ood: {name: \(archive.rawValue), dataset: image-folder, root: \(destination)}")
        }
        return destination
    }

    enum Source {
        case url(URL)
        case archive(String)
    }

    func source() throws -> Source {
        guard let from else { return .url(URL(string: archive.url)!) }
        if from.contains("://") {
            guard let url = URL(string: from), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme) else {
                throw FetchError("--from \(from): not an http(s) URL; give an http:// or https:// URL or a local archive")
            }
            return .url(from.hasSuffix("/") ? url.appendingPathComponent(archive.fileName) : url)
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: from, isDirectory: &isFolder), !isFolder.boolValue else {
            throw FetchError("--from \(from): no such archive; give a URL or the path of \(archive.fileName)")
        }
        return .archive(from)
    }

    /// Where an archive entry is written: its image files only, below `staging`, at their path in the
    /// archive; parent folders made without following links. An entry whose path leaves the archive
    /// (`..`, an absolute path) is refused.
    static func target(of entry: String, in staging: String, archive: String) throws -> String? {
        let parts = entry.split(separator: "/", omittingEmptySubsequences: true).map(String.init).filter { $0 != "." }
        guard !entry.hasPrefix("/"), !parts.contains("..") else {
            throw FetchError("\(archive): the entry \(entry) would be written outside the dataset's folder; the archive is not a plain image archive: nothing was installed")
        }
        guard let name = parts.last, ImageFolderListing.isImageName(Array(name.utf8)), !name.hasPrefix(".") else { return nil }
        var folder = staging
        for part in parts.dropLast() {
            folder = (folder as NSString).appendingPathComponent(part)
            try FolderInstall.makeFolder(folder)
        }
        return (folder as NSString).appendingPathComponent(name)
    }
}

extension ImageArchiveFetcher {
    /// Unpacks cs231n's tiny-imagenet-200.zip as an image folder: `train/WNID/images/*.JPEG` as they
    /// are, `val/images/NAME.JPEG` into `val/WNID/` by `val/val_annotations.txt`, and `wnids.txt`;
    /// the unlabelled `test/` and the box files are left out.
    static func unpackTinyImageNet(_ path: String, into staging: String, maxTotalBytes: Int) throws {
        let zip = try ZipReader(path)
        func relative(_ name: String) -> String {
            name.hasPrefix("tiny-imagenet-200/") ? String(name.dropFirst("tiny-imagenet-200/".count)) : name
        }
        guard let annotations = zip.entries.first(where: { relative($0.name) == "val/val_annotations.txt" }) else {
            throw FetchError("\(path): has no tiny-imagenet-200/val/val_annotations.txt; it is not Tiny ImageNet: use --from with another copy")
        }
        var classOf: [String: String] = [:]
        for line in String(decoding: try zip.contents(of: annotations), as: UTF8.self).split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: "\t")
            if fields.count >= 2 { classOf[String(fields[0])] = String(fields[1]) }
        }
        var total = 0
        for entry in zip.entries where !entry.name.hasSuffix("/") {
            let name = relative(entry.name)
            let parts = name.split(separator: "/").map(String.init)
            let target: String?
            if parts.first == "train" {
                target = try Self.target(of: name, in: staging, archive: path)
            } else if parts.count == 3, parts[0] == "val", parts[1] == "images" {
                guard let wnid = classOf[parts[2]] else {
                    throw FetchError("\(path): \(entry.name) has no line in val_annotations.txt; it is not Tiny ImageNet: use --from with another copy")
                }
                target = try Self.target(of: "val/\(wnid)/\(parts[2])", in: staging, archive: path)
            } else if name == "wnids.txt" {
                target = (staging as NSString).appendingPathComponent(name)
            } else {
                target = nil
            }
            guard let target else { continue }
            total += entry.size
            guard total <= maxTotalBytes else {
                throw FetchError("\(path): unpacks to more than \(maxTotalBytes) bytes (at \(entry.name)); it is not the expected archive: nothing was installed")
            }
            let sink = try HashingFile(target)
            let bytes = try zip.contents(of: entry)
            try bytes.withUnsafeBytes { try sink.write($0) }
            _ = try sink.finish()
        }
    }
}

/// Folder moves and creation shared by the fetchers.
enum FolderInstall {
    /// Renames a checked `staging` folder to `destination` (an older copy is moved to `aside`, then removed).
    static func move(_ staging: String, to destination: String, aside: String) throws {
        let hadOld = FileManager.default.fileExists(atPath: destination)
        if hadOld {
            try? FileManager.default.removeItem(atPath: aside)
            guard rename(destination, aside) == 0 else {
                throw FetchError("\(destination): cannot move the old copy aside (\(String(cString: strerror(errno)))); remove it and fetch again")
            }
        }
        guard rename(staging, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            if hadOld { _ = rename(aside, destination) }
            throw FetchError("\(destination): cannot move the checked files into place (\(reason)); check the folder")
        }
        if hadOld { try? FileManager.default.removeItem(atPath: aside) }
    }

    /// Makes `path` a folder, or accepts it when it is one already; a symbolic link there is refused.
    static func makeFolder(_ path: String) throws {
        if mkdir(path, 0o755) == 0 { return }
        var info = stat()
        guard errno == EEXIST, lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw FetchError("\(path): cannot create the folder (it exists and is not a folder, or a link); nothing was installed")
        }
    }
}
