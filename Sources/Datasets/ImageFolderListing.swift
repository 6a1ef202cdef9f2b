import Glibc

/// The start-up listing pass over an image folder, in the layout of torchvision's `ImageFolder` and
/// ImageNet (no image is decoded):
///
///     ROOT/train/CLASS/…/NAME.jpg      the training split
///     ROOT/val/CLASS/…/NAME.png        the evaluated split (optional)
///
/// - Classes are the folder names under `train/`, in byte order (Python's `sorted`, as torchvision);
///   a class's index is its place in that order. `val/` may hold fewer classes, never others.
///   Folders whose names start with `.` (`.ipynb_checkpoints`, `.snapshot`) are not classes.
/// - Images are `.jpg`, `.jpeg` and `.png` files in any letter case, found at any depth below a class
///   folder (symbolic links followed, each real folder visited once, so a link loop ends), in
///   torchvision's order: folders by path, then names, in byte order. Names are kept as bytes, so a
///   name that is not UTF-8 still opens. Anything else (other files, FIFOs, devices) is counted in
///   ``otherFiles``, never read.
/// - An unusable tree is refused in one line: no folder, no `train/`, no class folder, a class with
///   no images, a `val/` class unknown to `train/`, an unreadable folder.
public struct ImageFolderListing: Sendable {
    /// The dataset's folder.
    public let root: String
    /// Class names in index order.
    public let classNames: [String]
    /// `train/`'s images.
    public let train: ImageFileList
    /// `val/`'s images; nil without a `val/` folder.
    public let validation: ImageFileList?
    /// Files below `train/` and `val/` that are not images (counted, not read).
    public let otherFiles: Int

    /// File extensions read as images (compared in lower case).
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]
    /// How deep below a class folder images are looked for.
    public static let maximumDepth = 16

    /// Lists `root`.
    /// - Throws: ``DatasetError`` naming the folder and the fix for an unusable tree.
    public init(root: String) throws {
        self.root = root
        guard Self.isFolder(root) else {
            throw DatasetError(.missing, path: root, problem: "no such folder",
                               fix: "point data.root at a folder holding train/CLASS/*.jpg (and val/CLASS/*.jpg)")
        }
        let trainFolder = Self.join(root, "train")
        guard Self.isFolder(trainFolder) else {
            throw DatasetError(.missing, path: root, problem: "no train/ folder",
                               fix: "lay the images out as ROOT/train/CLASS/NAME.jpg (torchvision's ImageFolder layout), with ROOT/val/CLASS/NAME.jpg for evaluation")
        }
        let classes = try Self.classFolders(in: trainFolder)
        guard !classes.isEmpty else {
            throw DatasetError(.missing, path: trainFolder, problem: "no class folders",
                               fix: "put each class's images in a folder of its own: train/CLASS/NAME.jpg")
        }
        classNames = classes.map { PathTable.display($0) }
        var others = 0
        train = try Self.listSplit(trainFolder, classes: classes, classNames: classNames, requireEveryClass: true,
                                   otherFiles: &others)
        let valFolder = Self.join(root, "val")
        if Self.isFolder(valFolder) {
            let valClasses = try Self.classFolders(in: valFolder)
            if let unknown = valClasses.first(where: { !classes.contains($0) }) {
                throw DatasetError(.inconsistent, path: Self.join(valFolder, PathTable.display(unknown)),
                                   problem: "a class that train/ does not have",
                                   fix: "give val/ the class folders of train/ (same names), or remove this one")
            }
            validation = try Self.listSplit(valFolder, classes: classes, classNames: classNames, requireEveryClass: false,
                                            otherFiles: &others)
        } else {
            validation = nil
        }
        otherFiles = others
    }

    /// Every image below `folder`, at any depth, sorted by full path as bytes (Python's
    /// `sorted(glob(…, recursive=True))`, the order `bench_decode.py` reads): for benchmarks and
    /// folders without classes.
    public static func images(under folder: String) throws -> PathTable {
        PathTable(try imagesBelow(folder).sorted { $0.lexicographicallyPrecedes($1) })
    }

    /// The images of a folder without classes (an out-of-distribution set), flat (`ROOT/*.jpg`) or
    /// nested (`ROOT/ANY/…/*.png`), found and ordered as a class folder's are, each labelled 0 in
    /// one class named "images".
    /// - Throws: ``DatasetError`` for a missing or unreadable folder, or one without images.
    public static func unlabelledImages(in root: String) throws -> ImageFileList {
        guard isFolder(root) else {
            throw DatasetError(.missing, path: root, problem: "no such folder",
                               fix: "give a folder holding images (ROOT/*.jpg or ROOT/ANY/*.jpg)")
        }
        let found = try imagesBelow(root)
        guard !found.isEmpty else {
            throw DatasetError(.empty, path: root, problem: "no images (.jpg, .jpeg, .png) in this folder or below it",
                               fix: "give a folder holding images (ROOT/*.jpg or ROOT/ANY/*.jpg)")
        }
        return ImageFileList(paths: PathTable(found), labels: [Int32](repeating: 0, count: found.count), classNames: ["images"])
    }

    // MARK: - Walking

    /// Every image below `root`, in torchvision's order (other files not counted).
    private static func imagesBelow(_ root: String) throws -> [[UInt8]] {
        var visited = Set<FolderIdentity>(), found = [[UInt8]](), others = 0
        try walk(Array(root.utf8), depth: 0, visited: &visited, images: &found, otherFiles: &others)
        return found
    }

    private static func listSplit(_ folder: String, classes: [[UInt8]], classNames: [String], requireEveryClass: Bool,
                                  otherFiles: inout Int) throws -> ImageFileList {
        var paths = [[UInt8]](), labels = [Int32]()
        for (label, name) in classes.enumerated() {
            let classFolder = Array(folder.utf8) + [UInt8(ascii: "/")] + name
            guard isFolder(classFolder) else { continue }   // a val/ without this class
            var visited = Set<FolderIdentity>()
            var found = [[UInt8]]()
            try walk(classFolder, depth: 0, visited: &visited, images: &found, otherFiles: &otherFiles)
            if found.isEmpty && requireEveryClass {
                throw DatasetError(.missing, path: PathTable.display(classFolder), problem: "no images (.jpg, .jpeg, .png) in this class folder",
                                   fix: "add images to it or remove the folder")
            }
            paths += found
            labels += [Int32](repeating: Int32(label), count: found.count)
        }
        return ImageFileList(paths: PathTable(paths), labels: labels, classNames: classNames)
    }

    /// Adds the images below `folder` in torchvision's order (this folder's files by name, then each
    /// subfolder's, subfolders in path order).
    private static func walk(_ folder: [UInt8], depth: Int, visited: inout Set<FolderIdentity>,
                             images: inout [[UInt8]], otherFiles: inout Int) throws {
        guard depth <= maximumDepth, let identity = FolderIdentity(folder), visited.insert(identity).inserted else { return }
        var files = [[UInt8]](), folders = [[UInt8]]()
        for (name, kind) in try entries(of: folder) {
            switch kind ?? linkTarget(folder + [UInt8(ascii: "/")] + name) {
            case S_IFDIR: if name.first != UInt8(ascii: ".") { folders.append(name) }
            case S_IFREG: if isImageName(name) { files.append(name) } else { otherFiles += 1 }
            default: otherFiles += 1   // devices, FIFOs, sockets, dangling links
            }
        }
        for name in files.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            images.append(folder + [UInt8(ascii: "/")] + name)
        }
        // os.walk's folders sorted as paths: "a b" < "a/x", so order by the name followed by "/".
        for name in folders.sorted(by: { ($0 + [0x2F]).lexicographicallyPrecedes($1 + [0x2F]) }) {
            try walk(folder + [UInt8(ascii: "/")] + name, depth: depth + 1, visited: &visited, images: &images,
                     otherFiles: &otherFiles)
        }
    }

    /// Whether `name` ends in an image extension, in any letter case.
    public static func isImageName(_ name: [UInt8]) -> Bool {
        guard let dot = name.lastIndex(of: UInt8(ascii: ".")) else { return false }
        let suffix = name[(dot + 1)...]
        guard suffix.count <= 4 else { return false }
        return imageExtensions.contains(String(decoding: suffix.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self))
    }

    /// The class folders of a split folder, in byte order.
    private static func classFolders(in folder: String) throws -> [[UInt8]] {
        try entries(of: Array(folder.utf8)).map(\.name).filter { name in
            name.first != UInt8(ascii: ".") && isFolder(Array(folder.utf8) + [UInt8(ascii: "/")] + name)
        }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// What `path` is once links are followed: its `S_IFMT` bits (0 for a dangling link).
    private static func linkTarget(_ path: [UInt8]) -> mode_t {
        var info = stat()
        return path.withCStringBytes({ stat($0, &info) }) == 0 ? info.st_mode & S_IFMT : 0
    }

    /// The names in `folder` (without `.` and `..`), as bytes, each with its `S_IFMT` kind from the
    /// directory entry itself, or nil where that does not say (a symbolic link, a file system that
    /// leaves `d_type` unknown): a listing of a million files then costs no `stat` per regular file.
    private static func entries(of folder: [UInt8]) throws -> [(name: [UInt8], kind: mode_t?)] {
        guard let directory = folder.withCStringBytes({ opendir($0) }) else {
            let reason = String(cString: strerror(errno))
            throw DatasetError(.unreadable, path: PathTable.display(folder), problem: "cannot list the folder (\(reason))",
                               fix: "check its permissions and that it is a folder")
        }
        defer { closedir(directory) }
        var names = [(name: [UInt8], kind: mode_t?)]()
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix(while: { $0 != 0 }))
            }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            let kind: mode_t?
            switch Int32(entry.pointee.d_type) {
            case Int32(DT_REG): kind = S_IFREG
            case Int32(DT_DIR): kind = S_IFDIR
            case Int32(DT_FIFO): kind = S_IFIFO
            case Int32(DT_CHR): kind = S_IFCHR
            case Int32(DT_BLK): kind = S_IFBLK
            case Int32(DT_SOCK): kind = S_IFSOCK
            default: kind = nil   // DT_LNK (followed), DT_UNKNOWN
            }
            names.append((name, kind))
        }
        return names
    }

    public static func isFolder(_ path: String) -> Bool { isFolder(Array(path.utf8)) }

    static func isFolder(_ path: [UInt8]) -> Bool {
        var info = stat()
        return path.withCStringBytes { stat($0, &info) } == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    static func join(_ folder: String, _ name: String) -> String {
        folder.hasSuffix("/") ? folder + name : folder + "/" + name
    }

    /// A real folder, whatever links led to it.
    private struct FolderIdentity: Hashable {
        let device: UInt64
        let inode: UInt64
        init?(_ path: [UInt8]) {
            var info = stat()
            guard path.withCStringBytes({ stat($0, &info) }) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }
}

extension Array where Element == UInt8 {
    /// Calls `body` with these bytes as a NUL-terminated C string.
    func withCStringBytes<Result>(_ body: (UnsafePointer<CChar>) throws -> Result) rethrows -> Result {
        try (self + [0]).withUnsafeBufferPointer { buffer in
            try buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { try body($0) }
        }
    }
}
