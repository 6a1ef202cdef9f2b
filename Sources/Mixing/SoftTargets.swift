import Tensors

/// Targets as probability vectors.
public enum SoftTargets {
    /// Y (b×c): row i is the one-hot vector of `labels[i]`.
    public static func oneHot<Labels: Collection>(_ labels: Labels, classes: Int, into y: Tensor) where Labels.Element == Int32 {
        y.resize(to: [labels.count, classes])
        y.data.update(repeating: 0, count: y.count)
        for (i, label) in labels.enumerated() {
            precondition(label >= 0 && Int(label) < classes, "label \(label) of example \(i) is outside 0..<\(classes)")
            y.data[i * classes + Int(label)] = 1
        }
    }
}
