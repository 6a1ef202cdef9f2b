import Crypto
import Foundation
import SafeFiles
import TextEscaping
import RunConfig

#if _endian(big)
#error("Safetensors writes host floats as little-endian bytes: big-endian hosts need a byte swap here")
#endif

/// The element types a checkpoint holds: float32 parameters and statistics, and int64 counters
/// (BatchNorm's `num_batches_tracked`, as PyTorch stores it).
public enum TensorDType: String, Sendable {
    case f32 = "F32"
    case i64 = "I64"

    /// Bytes per element.
    public var size: Int { self == .f32 ? 4 : 8 }
}

/// A named tensor borrowed for writing (a slice of the parameter arena, an optimizer buffer, a counter).
public struct TensorSlice {
    /// The tensor's name in the file (`layer1.0.conv1.weight`).
    public var name: String
    /// Its shape, outermost first (OIHW for convolutions); `[]` for a scalar.
    public var shape: [Int]
    /// Its element type.
    public var dtype: TensorDType
    /// Its elements' bytes, `shape.reduce(1, *) · dtype.size` of them, in host (little-endian) order.
    public var bytes: UnsafeRawBufferPointer

    /// A float32 tensor.
    public init(name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
        precondition(shape.reduce(1, *) == values.count, "TensorSlice \(name): shape \(shape) does not hold \(values.count) values")
        self.init(name: name, shape: shape, dtype: .f32, bytes: UnsafeRawBufferPointer(values))
    }

    /// An int64 tensor.
    public init(name: String, shape: [Int], integers: UnsafeBufferPointer<Int64>) {
        precondition(shape.reduce(1, *) == integers.count, "TensorSlice \(name): shape \(shape) does not hold \(integers.count) values")
        self.init(name: name, shape: shape, dtype: .i64, bytes: UnsafeRawBufferPointer(integers))
    }

    private init(name: String, shape: [Int], dtype: TensorDType, bytes: UnsafeRawBufferPointer) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.bytes = bytes
    }
}

/// A named tensor read from a file: float32 elements in `values`, or int64 ones in `integers` (the
/// other array is empty).
public struct StoredTensor: Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var dtype: TensorDType
    public var values: [Float]
    public var integers: [Int64]

    /// A float32 tensor.
    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        self.dtype = .f32
        self.values = values
        self.integers = []
    }

    /// An int64 tensor.
    public init(name: String, shape: [Int], integers: [Int64]) {
        self.name = name
        self.shape = shape
        self.dtype = .i64
        self.values = []
        self.integers = integers
    }
}

/// The safetensors format (https://github.com/huggingface/safetensors), float32 and int64 tensors:
///
///     [ N: UInt64, little-endian ][ N bytes of JSON header, space-padded to a multiple of 8 ][ data ]
///     header: {"__metadata__": {"k": "v"},
///              "conv1.weight": {"dtype": "F32", "shape": [16, 3, 3, 3], "data_offsets": [0, 1728]}, ...}
///
/// Tensors are written in name order, each one's little-endian bytes right after the previous one's,
/// so `data_offsets` are contiguous from 0 to the end of the file. PyTorch loads the files with
/// `safetensors.torch.load_file`. The reader checks everything and refuses a bad file with a one-line
/// ``CheckpointError`` naming the file and tensor.
public enum Safetensors {
    /// The largest header accepted (the reference implementation's limit).
    static let maximumHeaderBytes = 100_000_000

    /// Writes `tensors` and `metadata` to `url`, fsynced; returns the SHA-256 and size of the file.
    @discardableResult
    public static func write(_ tensors: [TensorSlice], metadata: [String: String] = [:], to url: URL) throws
        -> (digest: SHA256.Digest, size: Int) {
        let sorted = tensors.sorted { $0.name < $1.name }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.name == b.name {
            throw CheckpointError(path: url.path, problem: "tensor \(a.name) given twice", fix: "give each tensor a unique name")
        }
        let file = try DurableFile(creating: url)
        try file.write(header(for: sorted, metadata: metadata))
        for tensor in sorted where tensor.bytes.count > 0 {
            try file.write(tensor.bytes)
        }
        return try file.close()
    }

    /// The length-prefixed, space-padded JSON header for tensors already in name order.
    static func header(for sorted: [TensorSlice], metadata: [String: String]) -> [UInt8] {
        var entries: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.sorted { $0.key < $1.key }.map { "\(JSONText.quoted($0.key)):\(JSONText.quoted($0.value))" }
            entries.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in sorted {
            let end = offset + tensor.bytes.count
            entries.append("\(JSONText.quoted(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var json = Array("{\(entries.joined(separator: ","))}".utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var bytes = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
        bytes += json
        return bytes
    }

    /// Reads and checks a file: tensors in name order, and the metadata.
    public static func read(_ url: URL) throws -> (tensors: [StoredTensor], metadata: [String: String]) {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw CheckpointError(path: url.path, problem: "cannot be read (\(error.localizedDescription))",
                                  fix: "check that the file exists and is readable")
        }
        return try data.withUnsafeBytes { try read(bytes: $0, path: url.path) }
    }

    /// Parses the bytes of a safetensors file; `path` names it in errors.
    static func read(bytes: UnsafeRawBufferPointer, path: String) throws -> (tensors: [StoredTensor], metadata: [String: String]) {
        func fail(_ problem: String) -> CheckpointError {
            CheckpointError(path: path, problem: problem, fix: CheckpointError.damagedAdvice)
        }
        guard bytes.count >= 8 else { throw fail("\(bytes.count) bytes is too short for the 8-byte header length") }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(min(bytes.count - 8, maximumHeaderBytes)) else {
            throw fail("header length \(headerLength) exceeds the \(bytes.count - 8) bytes after it")
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = bytes.count - dataStart
        let headerBytes = Data(bytes[8..<dataStart])
        guard let header = (try? JSONSerialization.jsonObject(with: headerBytes)) as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }

        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard let fields = raw as? [String: Any], let strings = fields as? [String: String] else {
                throw fail("__metadata__ is not an object of strings")
            }
            metadata = strings
        }

        struct Layout { let name: String; let shape: [Int]; let dtype: TensorDType; let begin: Int; let end: Int }
        var layouts: [Layout] = []
        for (name, raw) in header where name != "__metadata__" {
            guard let entry = raw as? [String: Any] else { throw fail("tensor \(name): its entry is not an object") }
            guard let dtype = entry["dtype"] as? String else { throw fail("tensor \(name): no dtype") }
            guard let type = TensorDType(rawValue: dtype) else {
                throw fail("tensor \(name): dtype \(dtype) is not supported (only F32 and I64)")
            }
            guard let shape = JSONText.integers(entry["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor \(name): shape is not a list of non-negative integers")
            }
            guard let offsets = JSONText.integers(entry["data_offsets"]), offsets.count == 2,
                  offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw fail("tensor \(name): data_offsets is not [begin, end] with 0 ≤ begin ≤ end")
            }
            guard offsets[1] <= dataSize else {
                throw fail("tensor \(name): data_offsets end \(offsets[1]) lies beyond the \(dataSize) data bytes (truncated file?)")
            }
            let (count, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            let (bytes, tooMany) = count.multipliedReportingOverflow(by: type.size)
            guard !overflow, !tooMany, bytes == offsets[1] - offsets[0] else {
                throw fail("tensor \(name): shape \(shape) needs \(count) × \(type.size) bytes but data_offsets span \(offsets[1] - offsets[0])")
            }
            layouts.append(Layout(name: name, shape: shape, dtype: type, begin: offsets[0], end: offsets[1]))
        }

        // The data must be covered exactly: contiguous from 0, no overlaps, no gaps, nothing left over.
        layouts.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var next = 0
        for layout in layouts {
            guard layout.begin == next else {
                throw fail(layout.begin < next ? "tensor \(layout.name): its data overlaps the tensor before it"
                                               : "tensor \(layout.name): a gap of \(layout.begin - next) bytes before its data")
            }
            next = layout.end
        }
        guard next == dataSize else { throw fail("\(dataSize - next) bytes after the last tensor's data") }

        let data = UnsafeRawBufferPointer(rebasing: bytes[dataStart...])
        /// The layout's elements, copied out of the (possibly unaligned) data.
        func elements<Element>(_ layout: Layout, as _: Element.Type) -> [Element] {
            let count = (layout.end - layout.begin) / MemoryLayout<Element>.size
            return [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 {
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: data[layout.begin..<layout.end]))
                }
                initialized = count
            }
        }
        let tensors = layouts.map { layout in
            switch layout.dtype {
            case .f32: StoredTensor(name: layout.name, shape: layout.shape, values: elements(layout, as: Float.self))
            case .i64: StoredTensor(name: layout.name, shape: layout.shape, integers: elements(layout, as: Int64.self))
            }
        }
        return (tensors.sorted { $0.name < $1.name }, metadata)
    }
}
