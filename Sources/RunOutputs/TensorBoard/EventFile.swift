/// TensorBoard's event files: a TFRecord file of `Event` protocol buffers (tensorflow/core/util/event.proto).
///
/// Each record is
///
///     uint64 length            little-endian
///     uint32 masked CRC-32C of the 8 length bytes
///     length bytes             one encoded Event
///     uint32 masked CRC-32C of those bytes
///
/// and the file's first event holds `file_version: "brain.Event:2"`. The Event fields written here:
/// `wall_time` (1, double, seconds since 1970), `step` (2, int64), and one of `file_version` (3),
/// `summary` (5: `Summary{repeated Value value = 1}`, `Value{tag = 1, simple_value = 2 (float),
/// histo = 5}`) or `session_log` (7: `SessionLog{status = 1}`, START = 1).
public enum EventFile {
    /// The version string of the first event; TensorBoard 2 reads version 2 files.
    public static let fileVersion = "brain.Event:2"

    /// `payload` framed as one record.
    public static func record(_ payload: [UInt8]) -> [UInt8] {
        let length = withUnsafeBytes(of: UInt64(payload.count).littleEndian, Array.init)
        return length + littleEndian(CRC32C.masked(length)) + payload + littleEndian(CRC32C.masked(payload))
    }

    /// The payloads of the intact records of `bytes`, and how many bytes the readable records span:
    /// reading stops at a record cut short (a crash while writing it) or whose length fails its
    /// checksum (nothing after it can be framed); a record whose payload fails its checksum (a flipped
    /// byte) is skipped, and the records after it are read.
    public static func records(_ bytes: [UInt8]) -> (payloads: [ArraySlice<UInt8>], intactCount: Int) {
        var payloads: [ArraySlice<UInt8>] = []
        var position = 0
        func word(_ at: Int, _ count: Int) -> UInt64 { bytes[...].littleEndianInteger(at: at, count: count) }
        while bytes.count - position >= 12 {
            let length = word(position, 8)
            guard UInt64(CRC32C.masked(bytes[position..<position + 8])) == word(position + 8, 4),
                  length <= UInt64(bytes.count - position - 16) else { break }
            let start = position + 12, end = start + Int(length)
            if UInt64(CRC32C.masked(bytes[start..<end])) == word(end, 4) { payloads.append(bytes[start..<end]) }
            position = end + 4
        }
        return (payloads, position)
    }

    // MARK: - Events

    /// The first event of a file.
    public static func versionEvent(wallTime: Double) -> [UInt8] {
        event(wallTime: wallTime, step: 0) { $0.string(3, fileVersion) }
    }

    /// A session (re)starting after step `step - 1`: a live TensorBoard drops the points it holds at
    /// `step` and later (those of an interrupted run's lost steps) when it reads this.
    public static func sessionStartEvent(wallTime: Double, step: Int) -> [UInt8] {
        event(wallTime: wallTime, step: step) { event in
            var sessionLog = ProtobufWriter()
            sessionLog.enumeration(1, 1)
            event.message(7, sessionLog)
        }
    }

    /// Scalars (tag, value) at `step`, in one summary.
    public static func scalarsEvent(wallTime: Double, step: Int, _ scalars: [(tag: String, value: Float)]) -> [UInt8] {
        summaryEvent(wallTime: wallTime, step: step, scalars.map { scalar in
            var value = ProtobufWriter()
            value.string(1, scalar.tag)
            value.float(2, scalar.value)
            return value
        })
    }

    /// A histogram at `step`, as `HistogramProto` (min 1, max 2, num 3, sum 4, sum_squares 5,
    /// bucket_limit 6 and bucket 7, packed doubles).
    public static func histogramEvent(wallTime: Double, step: Int, tag: String, _ histogram: Histogram) -> [UInt8] {
        var proto = ProtobufWriter()
        proto.double(1, histogram.minimum)
        proto.double(2, histogram.maximum)
        proto.double(3, Double(histogram.count))
        proto.double(4, histogram.sum)
        proto.double(5, histogram.sumOfSquares)
        proto.packedDoubles(6, histogram.limits)
        proto.packedDoubles(7, histogram.counts)
        var value = ProtobufWriter()
        value.string(1, tag)
        value.message(5, proto)
        return summaryEvent(wallTime: wallTime, step: step, [value])
    }

    /// A histogram of values in buckets of equal width, from the smallest value to the largest (one
    /// bucket when they are all equal); non-finite values are left out. Bucket i holds the values in
    /// (limits[i-1], limits[i]], the first from the minimum and the last to the maximum.
    public struct Histogram: Equatable, Sendable {
        public var minimum = 0.0, maximum = 0.0, sum = 0.0, sumOfSquares = 0.0
        public var count = 0
        /// Each bucket's right edge.
        public var limits: [Double] = []
        /// How many values each bucket holds.
        public var counts: [Double] = []

        public init(_ values: UnsafeBufferPointer<Float>, bucketCount: Int = 30) {
            var low = Double.infinity, high = -Double.infinity
            for value in values where value.isFinite {
                let x = Double(value)
                low = min(low, x); high = max(high, x)
                sum += x; sumOfSquares += x * x; count += 1
            }
            if count > 0 { minimum = low; maximum = high }
            let buckets = maximum > minimum ? bucketCount : 1
            let width = (maximum - minimum) / Double(buckets)
            limits = (0..<buckets).map { $0 == buckets - 1 ? maximum : minimum + width * Double($0 + 1) }
            counts = [Double](repeating: 0, count: buckets)
            for value in values where value.isFinite {
                let index = width > 0 ? Int(((Double(value) - minimum) / width).rounded(.up)) - 1 : 0
                counts[min(max(index, 0), buckets - 1)] += 1
            }
        }
    }

    /// An event's step and whether it holds a summary; nil if `payload` is not an event.
    public static func stepAndKind(_ payload: ArraySlice<UInt8>) -> (step: Int, isSummary: Bool)? {
        guard let fields = ProtobufReader.fields(payload) else { return nil }
        let step = fields.last { $0.number == 2 }.map { Int(Int64(bitPattern: $0.integer)) } ?? 0
        return (step, fields.contains { $0.number == 5 })
    }

    private static func summaryEvent(wallTime: Double, step: Int, _ values: [ProtobufWriter]) -> [UInt8] {
        event(wallTime: wallTime, step: step) { event in
            var summary = ProtobufWriter()
            for value in values { summary.message(1, value) }
            event.message(5, summary)
        }
    }

    private static func event(wallTime: Double, step: Int, _ what: (inout ProtobufWriter) -> Void) -> [UInt8] {
        var event = ProtobufWriter()
        event.double(1, wallTime)
        if step != 0 { event.int64(2, Int64(step)) }   // proto3 leaves out a field at its default value
        what(&event)
        return event.bytes
    }

    private static func littleEndian(_ value: UInt32) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian, Array.init)
    }
}
