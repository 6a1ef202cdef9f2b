import Datasets
import Foundation
import SafeFiles
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One resumable HTTP download to `destination`, through `destination.part`.
///
/// A `.part` file left by an earlier try (a dropped connection, a stall, Ctrl-C) is continued with a
/// `Range: bytes=N-` request: a 206 answer appends, a 200 (a server that ignores ranges) starts over.
/// A connection that drops or stalls (no byte for `stallTimeout` seconds) is resumed the same way up
/// to `retries` times; after that the error says how far it got and that running the same command
/// again continues. HTTP errors (404, 403, …) stop at once, naming the URL and the status.
public struct HTTPDownload {
    public let url: URL
    public let destination: String
    public var stallTimeout: Double
    public var retries: Int
    /// The most bytes the file may have: a larger one (announced) is refused and removed, and a body
    /// that goes past it (endless, or not the file asked for) is cut off before it fills the disk.
    public var maximumBytes: Int64

    public init(url: URL, destination: String, stallTimeout: Double, retries: Int, maximumBytes: Int64 = 1 << 40) {
        self.url = url
        self.destination = destination
        self.stallTimeout = stallTimeout
        self.retries = retries
        self.maximumBytes = maximumBytes
    }

    /// The partial file.
    public var partPath: String { destination + ".part" }

    /// How one try ended.
    enum Outcome {
        case complete(bytes: Int64)
        case interrupted(reason: String, bytes: Int64, total: Int64?)
    }

    /// Downloads the file, reporting to `progress`.
    public func run(progress: FetchProgress) throws {
        var attempt = 0
        while true {
            let offset = Self.size(of: partPath)
            if offset > 0 {
                progress.say("resume   \(url.absoluteString): continuing at byte \(offset) (\(FetchProgress.megabytes(offset)) already in \(partPath))")
            }
            let outcome: Outcome
            do {
                outcome = try attemptOnce(offset: offset, progress: progress)
            } catch {
                if Self.size(of: partPath) == 0 { try? FileManager.default.removeItem(atPath: partPath) }
                throw error
            }
            switch outcome {
            case .complete(let bytes):
                progress.finish(bytes: bytes)
                try? FileManager.default.removeItem(atPath: destination)
                guard rename(partPath, destination) == 0 else {
                    throw FetchError("\(destination): cannot rename the finished download into place (\(String(cString: strerror(errno)))); check the folder")
                }
                return
            case .interrupted(let reason, let bytes, let total):
                let position = "byte \(bytes)" + (total.map { " of \($0)" } ?? "")
                if attempt < retries {
                    attempt += 1
                    progress.say("retry    \(url.absoluteString): \(reason) at \(position); resuming (retry \(attempt) of \(retries))")
                    Thread.sleep(forTimeInterval: min(0.5 * Double(attempt), 5))
                    continue
                }
                throw FetchError("\(url.absoluteString): \(reason) at \(position); run the same command again to continue from there (the partial download is kept in \(partPath)), or use --from with a mirror")
            }
        }
    }

    /// Removes the partial file of a download larger than `maximumBytes` and says so.
    private func refuseOversized(_ state: Receiver.State) throws -> Never {
        try? FileManager.default.removeItem(atPath: partPath)
        let seen = state.total.map { "\($0) announced" } ?? "\(state.bytes) received"
        throw FetchError("\(url.absoluteString): more than \(maximumBytes) bytes (\(seen)), the most allowed for this file; check the address, or raise --max-size")
    }

    /// The size of the file at `path`, 0 if there is none.
    static func size(of path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
    }

    /// One request from `offset`, watched for stalls.
    private func attemptOnce(offset: Int64, progress: FetchProgress) throws -> Outcome {
        let receiver = try Receiver(partPath: partPath, offset: offset, maximumBytes: maximumBytes)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        // The stall watch below is the timeout; these only stop libcurl from ending a slow transfer first.
        configuration.timeoutIntervalForRequest = stallTimeout + 60
        configuration.timeoutIntervalForResource = 7 * 24 * 3600
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: configuration, delegate: receiver, delegateQueue: queue)
        defer { session.invalidateAndCancel() }
        var request = URLRequest(url: url)
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        if offset > 0 { request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }
        let task = session.dataTask(with: request)
        progress.begin((url.path as NSString).lastPathComponent, bytes: offset)
        task.resume()

        var stalled = false
        while true {
            Thread.sleep(forTimeInterval: 0.05)
            let state = receiver.snapshot()
            if let notice = receiver.takeNotice() { progress.say(notice) }
            if state.finished { break }
            if max(state.bytes, state.total ?? 0) > maximumBytes {
                task.cancel()
                receiver.close()
                try refuseOversized(state)
            }
            progress.update(bytes: state.bytes, total: state.total)
            if Date().timeIntervalSince(state.lastActivity) > stallTimeout {
                stalled = true
                task.cancel()
                let deadline = Date().addingTimeInterval(5)
                while !receiver.snapshot().finished && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
                break
            }
        }
        receiver.close()
        if let notice = receiver.takeNotice() { progress.say(notice) }
        let state = receiver.snapshot()
        if max(state.bytes, state.total ?? 0) > maximumBytes { try refuseOversized(state) }
        if let failure = state.failure {
            if state.tooLarge { try? FileManager.default.removeItem(atPath: partPath) }
            throw FetchError("\(url.absoluteString): \(failure)")
        }
        if stalled {
            let timeout = stallTimeout == stallTimeout.rounded() ? "\(Int(stallTimeout))" : "\(stallTimeout)"
            return .interrupted(reason: "no data for \(timeout) s (stalled; --stall-timeout sets the limit)", bytes: state.bytes, total: state.total)
        }
        if let error = state.transportError {
            let reason = state.status == 0 ? "cannot connect (\(error.localizedDescription))" : "connection lost (\(error.localizedDescription))"
            return .interrupted(reason: reason, bytes: state.bytes, total: state.total)
        }
        if let retry = state.retryReason { return .interrupted(reason: retry, bytes: state.bytes, total: state.total) }
        if let total = state.total, state.bytes != total {
            return .interrupted(reason: "connection closed early", bytes: state.bytes, total: total)
        }
        return .complete(bytes: state.bytes)
    }
}

/// The URLSession delegate: writes the body to the `.part` file as it arrives, and keeps what the
/// watching thread needs under a lock.
private final class Receiver: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    struct State {
        var bytes: Int64
        var total: Int64?
        var status = 0
        var lastActivity = Date()
        var finished = false
        var failure: String?
        /// The body went past `maximumBytes`: what was received is not the file, and is removed.
        var tooLarge = false
        var retryReason: String?
        var transportError: Error?
        /// A line to show once (a server that ignores the resume request).
        var notice: String?
    }

    private let lock = NSLock()
    private let offset: Int64
    private let file: FileHandle
    private var state: State

    private let maximumBytes: Int64

    init(partPath: String, offset: Int64, maximumBytes: Int64) throws {
        // Never through a link planted at the .part path (the tool runs as root), nor into a device.
        file = FileHandle(fileDescriptor: try SafeFile.open(partPath, flags: O_WRONLY | O_CREAT), closeOnDealloc: true)
        if offset == 0 { file.truncateFile(atOffset: 0) }
        self.offset = offset
        self.maximumBytes = maximumBytes
        state = State(bytes: offset)
    }

    /// The notice to show, once.
    func takeNotice() -> String? {
        lock.lock()
        defer { lock.unlock() }
        defer { state.notice = nil }
        return state.notice
    }

    func snapshot() -> State {
        lock.lock()
        defer { lock.unlock() }
        return state
    }

    func close() {
        lock.lock()
        defer { lock.unlock() }
        try? file.synchronize()
        try? file.close()
    }

    private func update(_ change: (inout State) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        change(&state)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        var disposition = URLSession.ResponseDisposition.allow
        update { state in
            state.lastActivity = Date()
            let http = response as? HTTPURLResponse
            state.status = http?.statusCode ?? 200
            let contentRange = http?.value(forHTTPHeaderField: "Content-Range")
            switch state.status {
            case 206:
                // "bytes START-END/TOTAL": the answer must start where the .part file ends.
                let numbers = contentRange.map(Receiver.numbers) ?? []
                guard numbers.count == 3, numbers[0] == offset else {
                    file.truncateFile(atOffset: 0)
                    state.bytes = 0
                    state.retryReason = "the server answered the resume request with another range (\(contentRange ?? "none")); starting over"
                    disposition = .cancel
                    return
                }
                state.total = numbers[2]
                file.seek(toFileOffset: UInt64(offset))
            case 200:
                if offset > 0 { state.notice = "restart  \(dataTask.originalRequest?.url?.absoluteString ?? "the server"): the server ignores resume requests (HTTP 200 to a Range request); starting over from byte 0" }
                file.truncateFile(atOffset: 0)
                state.bytes = 0
                state.total = response.expectedContentLength > 0 ? response.expectedContentLength : nil
            case 416:
                // Nothing left to send: complete if the .part file is the whole file, else start over.
                let numbers = contentRange.map(Receiver.numbers) ?? []
                if numbers.count == 1, numbers[0] == offset {
                    state.total = offset
                } else {
                    file.truncateFile(atOffset: 0)
                    state.bytes = 0
                    state.retryReason = "the server refused to resume at byte \(offset); starting over"
                }
                disposition = .cancel
            default:
                let reason = HTTPURLResponse.localizedString(forStatusCode: state.status)
                state.failure = "HTTP \(state.status) \(reason); check the URL, or download the file elsewhere and give it with --from"
                if (500..<600).contains(state.status) { state.failure = nil; state.retryReason = "HTTP \(state.status) \(reason)" }
                disposition = .cancel
            }
        }
        completionHandler(disposition)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        update { state in
            guard state.failure == nil, state.retryReason == nil else { return }
            guard state.bytes + Int64(data.count) <= maximumBytes else {
                state.failure = "the server sends more than \(maximumBytes) bytes, more than the dataset's download can be: it is not the file asked for (the partial download was removed); check the URL, or use another mirror"
                state.tooLarge = true
                dataTask.cancel()
                return
            }
            do {
                try file.write(contentsOf: data)
            } catch {
                state.failure = "cannot write the download: \(error.localizedDescription); check the disk's free space"
                dataTask.cancel()
                return
            }
            state.bytes += Int64(data.count)
            state.lastActivity = Date()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        update { state in
            if let error, (error as? URLError)?.code != .cancelled { state.transportError = error }
            state.finished = true
        }
    }

    /// The numbers in a Content-Range value: "bytes 100-199/200" → [100, 199, 200]; "bytes */200" → [200].
    static func numbers(_ text: String) -> [Int64] {
        text.split(whereSeparator: { !$0.isNumber }).compactMap { Int64($0) }
    }
}
