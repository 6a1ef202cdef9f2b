/// A smaller part of a dataset for quick runs: everything, the first N examples balanced per class,
/// or a fraction (also balanced).
///
/// Balanced means each class gets ⌊N / classes⌋ examples, and the first N mod classes classes one more;
/// they are the first such examples in file order, so the subset is the same every time. A class with
/// too few examples contributes all it has (the subset is then smaller than N).
public enum DatasetSubset: Equatable, Sendable {
    /// The whole dataset.
    case all
    /// The first `count` examples, balanced per class.
    case firstBalanced(count: Int)
    /// `fraction` (in (0, 1]) of the dataset, rounded, balanced per class.
    case fraction(Double)
    /// The last `count` examples, balanced per class (in file order): a validation split held out
    /// from the end, so that it never overlaps a `firstBalanced` training subset of the rest.
    case lastBalanced(count: Int)

    /// The chosen indices of `dataset`, in file order.
    public func indices<Examples: LabelledExamples>(in dataset: Examples) -> [Int] {
        switch self {
        case .all:
            return Array(0..<dataset.count)
        case .fraction(let fraction):
            precondition(fraction > 0 && fraction <= 1, "subset fraction \(fraction) outside (0, 1]")
            let count = Int((fraction * Double(dataset.count)).rounded())
            return DatasetSubset.firstBalanced(count: count).indices(in: dataset)
        case .firstBalanced(let count):
            return DatasetSubset.balanced(count: count, in: dataset, order: dataset.labels.indices)
        case .lastBalanced(let count):
            return DatasetSubset.balanced(count: count, in: dataset, order: dataset.labels.indices.reversed()).reversed()
        }
    }

    /// The first `count` examples met in `order`, balanced per class.
    private static func balanced<Examples: LabelledExamples, Order: Sequence>(count: Int, in dataset: Examples, order: Order) -> [Int] where Order.Element == Int {
        precondition(count >= 0, "subset count \(count)")
        let classes = dataset.classCount
        var quota = (0..<classes).map { count / classes + ($0 < count % classes ? 1 : 0) }
        var chosen = [Int]()
        chosen.reserveCapacity(min(count, dataset.count))
        let labels = dataset.labels
        for index in order where quota[Int(labels[index])] > 0 {
            quota[Int(labels[index])] -= 1
            chosen.append(index)
            if chosen.count == count { break }
        }
        return chosen
    }

    /// `dataset` reduced to this subset (the dataset itself for `.all`).
    public func apply<Examples: LabelledExamples>(to dataset: Examples) -> Examples {
        self == .all ? dataset : dataset.subset(indices(in: dataset))
    }
}
