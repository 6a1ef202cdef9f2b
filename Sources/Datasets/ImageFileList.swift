/// A split of an image folder: the files of its examples (decoded on demand by
/// ``ImageFileAssembler``) and their labels. Subsets share the path table.
public struct ImageFileList: LabelledExamples {
    /// Every image path of the split, as listed.
    public let paths: PathTable
    /// The path of each example: an index into ``paths``.
    let pathIndices: [Int32]
    /// One label per example.
    public let labels: [Int32]
    /// Class names, indexed by label.
    public let classNames: [String]

    /// A split over all of `paths` in order, with `labels` (one per path).
    public init(paths: PathTable, labels: [Int32], classNames: [String]) {
        precondition(paths.count == labels.count, "\(paths.count) paths for \(labels.count) labels")
        precondition(paths.count <= Int(Int32.max), "more than 2^31 files")
        self.init(paths: paths, pathIndices: (0..<Int32(paths.count)).map { $0 }, labels: labels, classNames: classNames)
    }

    private init(paths: PathTable, pathIndices: [Int32], labels: [Int32], classNames: [String]) {
        self.paths = paths
        self.pathIndices = pathIndices
        self.labels = labels
        self.classNames = classNames
    }

    /// Number of examples.
    public var count: Int { labels.count }

    public func subset(_ indices: [Int]) -> ImageFileList {
        ImageFileList(paths: paths, pathIndices: indices.map { pathIndices[$0] }, labels: indices.map { labels[$0] },
                      classNames: classNames)
    }

    /// Calls `body` with example `index`'s path as a C string.
    public func withPath<Result>(of index: Int, _ body: (UnsafePointer<CChar>) throws -> Result) rethrows -> Result {
        try paths.withCString(at: Int(pathIndices[index]), body)
    }

    /// Example `index`'s path for people (see ``PathTable/displayPath(at:)``).
    public func displayPath(of index: Int) -> String { paths.displayPath(at: Int(pathIndices[index])) }
}
