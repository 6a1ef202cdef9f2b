import Foundation
import RunOutputs
import Training
import XCTest

/// The hand-written TensorBoard event files: CRC-32C, protocol-buffer bytes, record framing, and the
/// truncation of a folder's files on resume. (TensorBoardRunTests reads a real run's files back with
/// the `tensorboard` package.)
final class TensorBoardTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("tb-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    /// The check values of RFC 3720 (iSCSI, appendix B.4) and the usual "123456789"; the mask of
    /// TensorFlow's crc32c.h, worked by hand for the latter.
    func testCRC32CMatchesKnownVectors() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }), 0x113F_DB5C)
        // ((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xA282EAD8, modulo 2^32.
        XCTAssertEqual(CRC32C.masked(Array("123456789".utf8)), 0xC78A_B0E5)
        XCTAssertEqual(CRC32C.masked([UInt8]()), 0xA282_EAD8)
    }

    func testProtobufEncodingMatchesHandComputedBytes() {
        var writer = ProtobufWriter()
        writer.varint(1); writer.varint(127); writer.varint(128); writer.varint(300)
        XCTAssertEqual(writer.bytes, [0x01, 0x7F, 0x80, 0x01, 0xAC, 0x02])
        writer = ProtobufWriter()
        writer.int64(2, -1)   // a negative int64 takes 10 bytes
        XCTAssertEqual(writer.bytes, [0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        writer = ProtobufWriter()
        writer.packedDoubles(6, [2, 1.5])
        XCTAssertEqual(writer.bytes, [0x32, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F])

        // Event{wall_time: 1.5, file_version: "brain.Event:2"}: step 0 is left out.
        XCTAssertEqual(EventFile.versionEvent(wallTime: 1.5),
                       [0x09, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F, 0x1A, 0x0D] + Array("brain.Event:2".utf8))
        // Event{wall_time: 1.5, step: 3, summary: {value: [{tag: "a", simple_value: 0.5}]}}.
        XCTAssertEqual(EventFile.scalarsEvent(wallTime: 1.5, step: 3, [("a", 0.5)]),
                       [0x09, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F, 0x10, 0x03,
                        0x2A, 0x0A, 0x0A, 0x08, 0x0A, 0x01, 0x61, 0x15, 0x00, 0x00, 0x00, 0x3F])
        // Event{wall_time: 2, step: 300, session_log: {status: START}}.
        XCTAssertEqual(EventFile.sessionStartEvent(wallTime: 2, step: 300),
                       [0x09, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x10, 0xAC, 0x02, 0x3A, 0x02, 0x08, 0x01])
    }

    /// A record: length, its masked CRC, payload, the payload's masked CRC (an empty payload's is
    /// mask(0) = 0xA282EAD8). Reading stops before a torn record or a damaged length, and skips a
    /// record whose payload is damaged (the records after it are intact and kept).
    func testRecordFramingAndReadingStopAtATornRecord() {
        let empty = EventFile.record([])
        XCTAssertEqual(empty.count, 16)
        XCTAssertEqual(Array(empty[0..<8]), [UInt8](repeating: 0, count: 8))
        XCTAssertEqual(Array(empty[8..<12]), withUnsafeBytes(of: CRC32C.masked([UInt8](repeating: 0, count: 8)).littleEndian, Array.init))
        XCTAssertEqual(Array(empty[12..<16]), [0xD8, 0xEA, 0x82, 0xA2])

        let a = EventFile.scalarsEvent(wallTime: 1, step: 1, [("x", 1)]), b = EventFile.versionEvent(wallTime: 2)
        let file = EventFile.record(a) + EventFile.record(b)
        let whole = EventFile.records(file)
        XCTAssertEqual(whole.payloads.map(Array.init), [a, b])
        XCTAssertEqual(whole.intactCount, file.count)
        let torn = EventFile.records(file + EventFile.record(a).dropLast(3))
        XCTAssertEqual(torn.payloads.count, 2)
        XCTAssertEqual(torn.intactCount, file.count)
        var damaged = file
        damaged[EventFile.record(a).count - 6] ^= 1   // a payload byte of the first record
        XCTAssertEqual(EventFile.records(damaged).payloads.map(Array.init), [b])
        var badLength = file
        badLength[EventFile.record(a).count + 2] ^= 1   // the second record's length
        XCTAssertEqual(EventFile.records(badLength).payloads.map(Array.init), [a])
        XCTAssertEqual(EventFile.stepAndKind(whole.payloads[0])?.step, 1)
        XCTAssertEqual(EventFile.stepAndKind(whole.payloads[0])?.isSummary, true)
        XCTAssertEqual(EventFile.stepAndKind(whole.payloads[1])?.isSummary, false)
    }

    /// Equal-width buckets from the minimum to the maximum; every finite value counted once.
    func testHistogramBucketsCountEveryValue() {
        let values: [Float] = [-1, -0.5, 0, 0.25, 1, 2, .nan]
        let histogram = values.withUnsafeBufferPointer { EventFile.Histogram($0, bucketCount: 3) }
        XCTAssertEqual(histogram.minimum, -1)
        XCTAssertEqual(histogram.maximum, 2)
        XCTAssertEqual(histogram.count, 6)
        XCTAssertEqual(histogram.sum, 1.75)
        XCTAssertEqual(histogram.sumOfSquares, 1 + 0.25 + 0.0625 + 1 + 4)
        XCTAssertEqual(histogram.limits, [0, 1, 2])
        XCTAssertEqual(histogram.counts, [3, 2, 1])   // [-1, 0] (from the minimum), (0, 1], (1, 2]
        let equal = [Float](repeating: 1, count: 2).withUnsafeBufferPointer { EventFile.Histogram($0) }
        XCTAssertEqual(equal.limits, [1])
        XCTAssertEqual(equal.counts, [2])

        // Event{wall_time: 0, step: 5, summary: {value: [{tag: "p", histo: {min: 1, max: 1, num: 2, sum: 2,
        // sum_squares: 2, bucket_limit: [1], bucket: [2]}}]}}: doubles 1 = 00…F0 3F, 2 = 00…00 40.
        let one: [UInt8] = [0, 0, 0, 0, 0, 0, 0xF0, 0x3F], two: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0x40]
        let histo = [0x09] + one + [0x11] + one + [0x19] + two + [0x21] + two + [0x29] + two
            + [0x32, 0x08] + one + [0x3A, 0x08] + two
        XCTAssertEqual(histo.count, 0x41)
        let value = [0x0A, 0x01, 0x70, 0x2A, 0x41] + histo
        let expected = [0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x05, 0x2A, 0x48, 0x0A, 0x46] + value
        XCTAssertEqual(EventFile.histogramEvent(wallTime: 0, step: 5, tag: "p", equal), expected)
    }

    /// A session resuming after step 4 keeps the earlier file's events up to step 4 and starts a file
    /// that sorts after it, opening with the version and a START at step 5; a fresh start (step 0)
    /// deletes files left with no scalars.
    func testResumingTruncatesEarlierFilesAndStartsANewOne() throws {
        var now = 1_000.0
        let first = try TensorBoardLog(folder: folder, clock: { now })
        for step in [2, 4, 6] {
            try first.append(MetricsRecord(kind: .train, step: step, epoch: 0, values: ["loss": Double(step)]))
        }
        try first.append(MetricsRecord(kind: .eval, step: 6, epoch: 1, values: ["top1": 0.5]))
        // A torn last record, as a crash mid-write leaves it.
        let handle = try FileHandle(forWritingTo: first.url)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(EventFile.record(EventFile.versionEvent(wallTime: 0)).prefix(5)))
        try handle.close()

        now = 900   // a clock behind the first file's name: the new one still sorts after it
        let second = try TensorBoardLog(folder: folder, resumingAfter: 4, clock: { now })
        XCTAssertEqual(try TensorBoardLog.eventFiles(in: folder), [first.url, second.url])
        XCTAssertTrue(first.url.lastPathComponent.hasPrefix("events.out.tfevents.0000001000."), first.url.lastPathComponent)
        XCTAssertTrue(second.url.lastPathComponent.hasPrefix("events.out.tfevents.0000001001."), second.url.lastPathComponent)
        let kept = EventFile.records([UInt8](try Data(contentsOf: first.url)))
        XCTAssertEqual(kept.intactCount, try Data(contentsOf: first.url).count)
        XCTAssertEqual(kept.payloads.compactMap { EventFile.stepAndKind($0)?.step }, [0, 1, 2, 4])
        let started = EventFile.records([UInt8](try Data(contentsOf: second.url))).payloads
        XCTAssertEqual(started.map(Array.init), [EventFile.versionEvent(wallTime: 900), EventFile.sessionStartEvent(wallTime: 900, step: 5)])
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent(".rewrite.tmp").path))

        // A flipped byte in the earlier file's first scalars (step 1… here step 2) loses that record
        // alone when resuming: its later steps stay (the file was deleted whole before).
        var bytes = [UInt8](try Data(contentsOf: first.url))
        let firstScalars = EventFile.record(Array(kept.payloads[0])).count + EventFile.record(Array(kept.payloads[1])).count
        bytes[firstScalars + 20] ^= 0x10
        try Data(bytes).write(to: first.url)
        _ = try TensorBoardLog(folder: folder, resumingAfter: 4, clock: { now })
        let survivors = EventFile.records([UInt8](try Data(contentsOf: first.url))).payloads
        XCTAssertEqual(survivors.compactMap { EventFile.stepAndKind($0)?.step }, [0, 1, 4], "only the damaged record is dropped")

        let fresh = try TensorBoardLog(folder: folder, clock: { now })
        XCTAssertEqual(try TensorBoardLog.eventFiles(in: folder), [fresh.url], "files left with no scalars are deleted")
    }
}
