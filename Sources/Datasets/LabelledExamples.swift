/// A split of labelled examples, whatever holds their pixels: an ``ImageDataset`` in memory (the
/// built-in benchmarks) or an ``ImageFileList`` of files decoded on demand (image folders). Subsets,
/// validation hold-outs, samplers and class counts need only this.
public protocol LabelledExamples: Sendable {
    /// Number of examples.
    var count: Int { get }
    /// One label per example, each in 0..<classNames.count.
    var labels: [Int32] { get }
    /// Class names, indexed by label.
    var classNames: [String] { get }
    /// A new split of the examples at `indices`, in that order.
    func subset(_ indices: [Int]) -> Self
}

extension LabelledExamples {
    /// Number of classes.
    public var classCount: Int { classNames.count }

    /// Examples per class, indexed by label.
    public var countsPerClass: [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for label in labels { counts[Int(label)] += 1 }
        return counts
    }
}

extension ImageDataset: LabelledExamples {}
