import Foundation

/// The datasets this tool knows by name (`data.dataset` in a config, a name on the command line):
/// each with its file format, image shape, class count and default folder.
///
///     name            default folder
///     fashion-mnist   /usr/share/datasets/fashion-mnist     (Debian's dataset-fashion-mnist)
///     mnist           DATA/mnist
///     cifar10         DATA/cifar-10-batches-bin
///     cifar100        DATA/cifar-100-binary
///
/// where DATA is the data directory `launch/setup.sh` fills (see ``DatasetSource/defaultDataDirectory()``).
public enum DatasetName: String, CaseIterable, Sendable {
    case fashionMNIST = "fashion-mnist", mnist, cifar10, cifar100

    /// The name as typed on the command line: any case, and the spellings `fashionmnist`, `cifar-10`
    /// and `cifar-100` too; nil for a name that is none of these.
    public init?(lenient text: String) {
        switch text.lowercased() {
        case "fashionmnist": self = .fashionMNIST
        case "cifar-10": self = .cifar10
        case "cifar-100": self = .cifar100
        case let lowered: self.init(rawValue: lowered)
        }
    }

    /// The names in order, joined as a sentence: "fashion-mnist, mnist, cifar10 or cifar100".
    public static var choices: String {
        let names = allCases.map(\.rawValue)
        return names.dropLast().joined(separator: ", ") + " or " + names.last!
    }

    /// The file format.
    public var format: DatasetFormat {
        switch self {
        case .fashionMNIST, .mnist: return .idx
        case .cifar10: return .cifar10
        case .cifar100: return .cifar100
        }
    }

    /// The shape of one image.
    public var imageShape: ImageShape {
        switch self {
        case .fashionMNIST, .mnist: return ImageShape(height: 28, width: 28, channels: 1)
        case .cifar10, .cifar100: return ImageShape(height: 32, width: 32, channels: 3)
        }
    }

    /// How many classes (CIFAR-100: its 100 fine labels).
    public var classCount: Int { self == .cifar100 ? 100 : 10 }

    /// IDX data only: the class names.
    public var classNames: [String]? {
        switch self {
        case .fashionMNIST: return IDXReader.fashionMNISTClassNames
        case .mnist: return IDXReader.digitClassNames
        case .cifar10, .cifar100: return nil
        }
    }

    /// The folder holding the dataset's files when none is given: Fashion-MNIST's Debian package
    /// folder, else the dataset's folder inside `dataDirectory`.
    public func defaultRoot(dataDirectory: String) -> String {
        let folder: String
        switch self {
        case .fashionMNIST: return "/usr/share/datasets/fashion-mnist"
        case .mnist: folder = "mnist"
        case .cifar10: folder = "cifar-10-batches-bin"
        case .cifar100: folder = "cifar-100-binary"
        }
        return (dataDirectory as NSString).appendingPathComponent(folder)
    }
}
