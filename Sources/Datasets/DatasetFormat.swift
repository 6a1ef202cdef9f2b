/// The on-disk formats the readers understand.
public enum DatasetFormat: String, CaseIterable, Sendable, Codable {
    /// CIFAR-10 binary version (`data_batch_*.bin`, `test_batch.bin`).
    case cifar10
    /// CIFAR-100 binary version (`train.bin`, `test.bin`).
    case cifar100
    /// MNIST-style IDX files (MNIST, Fashion-MNIST, KMNIST), plain or gzipped.
    case idx
    /// Folders of JPEG and PNG files, one per class (torchvision's `ImageFolder`): read by
    /// ``ImageFolderPipeline``, not into memory.
    case imageFolder = "image-folder"
    /// An image folder packed into tar shards (`multimix data pack`): read by ``ShardPipeline``.
    case shards

    /// How the format is named to people.
    public var displayName: String {
        switch self {
        case .cifar10: return "CIFAR-10 binary"
        case .cifar100: return "CIFAR-100 binary"
        case .idx: return "IDX (MNIST-style)"
        case .imageFolder: return "image folder"
        case .shards: return "tar shards"
        }
    }
}
