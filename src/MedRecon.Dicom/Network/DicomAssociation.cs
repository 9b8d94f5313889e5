using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace MedRecon.Dicom.Network;

/// <summary>What went wrong on the network, so callers can tell transient failures from permanent ones.</summary>
public enum NetworkFailure
{
    /// <summary>No TCP connection (refused, unreachable, reset before the association): worth a retry.</summary>
    ConnectionFailed,
    /// <summary>The peer did not answer within the timeout.</summary>
    Timeout,
    /// <summary>A-ASSOCIATE-RJ (see <see cref="DicomNetworkException.Reject"/>).</summary>
    Rejected,
    /// <summary>A-ABORT received, or the connection dropped after the association was established.</summary>
    Aborted,
    /// <summary>The peer broke the protocol.</summary>
    Protocol,
}

public sealed class DicomNetworkException : Exception
{
    public DicomNetworkException(NetworkFailure failure, string message, Exception? inner = null, AssociateReject? reject = null)
        : base(message, inner)
    {
        Failure = failure;
        Reject = reject;
    }

    public NetworkFailure Failure { get; }
    public AssociateReject? Reject { get; }

    /// <summary>True for failures before an association exists that may pass: connection refused/reset, a connect
    /// timeout, a transient A-ASSOCIATE-RJ.</summary>
    public bool IsTransient { get; init; }
}

/// <summary>Where and how to connect, with the timeouts and retry policy.</summary>
public sealed class DicomClientOptions
{
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 104;
    public string CalledAE { get; init; } = "ANY-SCP";
    public string CallingAE { get; init; } = "MEDRECON";
    /// <summary>TCP connect timeout.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Longest wait for any PDU from the peer (association answer, DIMSE response, release) and for a send.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Largest P-DATA-TF PDU we accept (announced to the peer).</summary>
    public uint MaxPduLength { get; init; } = 262144;
    /// <summary>Retries of connect + associate after a transient failure (0 = one attempt).</summary>
    public int Retries { get; init; } = 2;
    /// <summary>Delay before the first retry; doubled for each further one.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// An association as SCU (requestor) over one TCP connection: negotiation, DIMSE messages split into P-DATA-TF PDUs
/// of the peer's maximum length, release and abort. Not thread-safe; one message in flight at a time.
/// </summary>
public sealed class DicomAssociation : IDisposable
{
    readonly Socket _socket;
    readonly NetworkStream _stream;
    readonly Stream _reader;
    readonly DicomClientOptions _options;
    ushort _messageId;
    bool _closed;
    byte[] _sendBuffer = Array.Empty<byte>();

    DicomAssociation(Socket socket, DicomClientOptions options, AssociateAccept accept)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _reader = new QuickAckReader(_stream, socket);
        _options = options;
        Accept = accept;
    }

    public AssociateAccept Accept { get; }
    /// <summary>Largest PDU the peer accepts (0 = no limit).</summary>
    public uint PeerMaxPduLength => Accept.MaxPduLength;
    public bool IsOpen => !_closed;

    /// <summary>Connects and negotiates, with retries and exponential backoff on transient failures.</summary>
    public static DicomAssociation Open(DicomClientOptions options, IReadOnlyList<PresentationContext> contexts, Action<string>? log = null)
    {
        var delay = options.RetryDelay;
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return OpenOnce(options, contexts);
            }
            catch (DicomNetworkException e) when (e.IsTransient && attempt < options.Retries)
            {
                log?.Invoke($"{e.Message}; retry {attempt + 1}/{options.Retries} in {delay.TotalSeconds:0.##} s");
                Thread.Sleep(delay);
                delay *= 2;
            }
        }
    }

    /// <summary>One connect + A-ASSOCIATE attempt.</summary>
    public static DicomAssociation OpenOnce(DicomClientOptions options, IReadOnlyList<PresentationContext> contexts)
    {
        string where = $"{options.Host}:{options.Port}";
        var socket = Connect(options, where);
        try
        {
            socket.NoDelay = true;
            socket.ReceiveTimeout = (int)options.ReadTimeout.TotalMilliseconds;
            socket.SendTimeout = (int)options.ReadTimeout.TotalMilliseconds;
            var rq = new AssociateRequest
            {
                CalledAE = options.CalledAE, CallingAE = options.CallingAE, MaxPduLength = options.MaxPduLength,
                Contexts = contexts.ToList(),
            };
            using var stream = new NetworkStream(socket, ownsSocket: false);
            (PduType Type, byte[] Body)? pdu;
            try
            {
                stream.Write(Pdu.Encode(rq));
                pdu = Pdu.Read(stream, 1 << 20);
            }
            catch (IOException e) when (e.InnerException is SocketException se && se.SocketErrorCode == SocketError.TimedOut)
            {
                throw new DicomNetworkException(NetworkFailure.Timeout, $"{where}: no answer to A-ASSOCIATE-RQ within {options.ReadTimeout.TotalSeconds:0.#} s", e);
            }
            catch (IOException e)
            {
                // reset or closed before the association existed: nothing was stored, a retry is safe
                throw new DicomNetworkException(NetworkFailure.ConnectionFailed, $"{where}: connection lost during association negotiation ({e.Message})", e) { IsTransient = true };
            }
            if (pdu is null)
                throw new DicomNetworkException(NetworkFailure.ConnectionFailed, $"{where}: the peer closed the connection without answering A-ASSOCIATE-RQ") { IsTransient = true };
            var (type, body) = pdu.Value;
            switch (type)
            {
                case PduType.AssociateAccept:
                    var ac = Pdu.DecodeAssociateAccept(body);
                    return new DicomAssociation(socket, options, ac);
                case PduType.AssociateReject:
                    var rj = Pdu.DecodeAssociateReject(body);
                    throw new DicomNetworkException(NetworkFailure.Rejected, $"{where} (called AE '{options.CalledAE}', calling AE '{options.CallingAE}'): {rj.Describe()}", reject: rj) { IsTransient = rj.IsTransient };
                case PduType.Abort:
                    throw new DicomNetworkException(NetworkFailure.Aborted, $"{where}: {Pdu.DecodeAbort(body).Describe()} during negotiation");
                default:
                    throw new DicomNetworkException(NetworkFailure.Protocol, $"{where}: unexpected {type} PDU in answer to A-ASSOCIATE-RQ");
            }
        }
        catch (DicomProtocolException e)
        {
            socket.Dispose();
            throw new DicomNetworkException(NetworkFailure.Protocol, $"{where}: {e.Message}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    static Socket Connect(DicomClientOptions options, string where)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            using var cts = new CancellationTokenSource(options.ConnectTimeout);
            if (IPAddress.TryParse(options.Host, out var ip))
                socket.ConnectAsync(new IPEndPoint(ip, options.Port), cts.Token).AsTask().GetAwaiter().GetResult();
            else
                socket.ConnectAsync(options.Host, options.Port, cts.Token).AsTask().GetAwaiter().GetResult();
            return socket;
        }
        catch (OperationCanceledException e)
        {
            socket.Dispose();
            throw new DicomNetworkException(NetworkFailure.Timeout, $"{where}: connect timed out after {options.ConnectTimeout.TotalSeconds:0.#} s", e) { IsTransient = true };
        }
        catch (SocketException e)
        {
            socket.Dispose();
            bool transient = e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset or SocketError.TimedOut
                or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.TryAgain;
            string what = e.SocketErrorCode == SocketError.ConnectionRefused ? "connection refused (is the server running?)" : e.Message;
            throw new DicomNetworkException(NetworkFailure.ConnectionFailed, $"{where}: {what}", e) { IsTransient = transient };
        }
    }

    /// <summary>The accepted context for a SOP class and transfer syntax, or null.</summary>
    public PresentationContextAnswer? FindContext(IReadOnlyList<PresentationContext> proposed, string sopClass, string transferSyntax)
    {
        foreach (var a in Accept.Contexts)
        {
            if (!a.Accepted || a.TransferSyntax != transferSyntax) continue;
            var p = proposed.FirstOrDefault(c => c.Id == a.Id);
            if (p != null && p.AbstractSyntax == sopClass) return a;
        }
        return null;
    }

    /// <summary>C-ECHO on the accepted Verification context.</summary>
    public DimseResponse Echo(byte contextId)
    {
        ushort id = ++_messageId;
        SendMessage(contextId, DimseCommand.EchoRequest(id), null);
        return ReceiveResponse(id, DimseCommand.CEchoResponse);
    }

    /// <summary>C-STORE of a data set already encoded in the context's transfer syntax.</summary>
    public DimseResponse Store(byte contextId, string sopClass, string sopInstance, ReadOnlyMemory<byte> dataset)
    {
        ushort id = ++_messageId;
        SendMessage(contextId, DimseCommand.StoreRequest(id, sopClass, sopInstance), dataset);
        return ReceiveResponse(id, DimseCommand.CStoreResponse);
    }

    void SendMessage(byte contextId, byte[] command, ReadOnlyMemory<byte>? dataset)
    {
        EnsureOpen();
        try
        {
            SendFragments(contextId, true, command);
            if (dataset is { } d) SendFragments(contextId, false, d);
        }
        catch (IOException e)
        {
            // The peer may have sent an A-ABORT before closing; report it when it is there.
            string why = TryReadAbortReason() ?? e.Message;
            Lost();
            throw new DicomNetworkException(NetworkFailure.Aborted, $"{Where}: connection lost while sending ({why})", e);
        }
    }

    void SendFragments(byte contextId, bool isCommand, ReadOnlyMemory<byte> message)
    {
        int chunk = Pdu.MaxFragment(PeerMaxPduLength);
        if (_sendBuffer.Length < chunk + Pdu.PDataOverhead) _sendBuffer = new byte[chunk + Pdu.PDataOverhead];
        var buf = _sendBuffer;
        int pos = 0;
        do
        {
            int n = Math.Min(chunk, message.Length - pos);
            bool last = pos + n >= message.Length;
            // one write per PDU (header + fragment): no small packets, no extra copy of the whole message
            buf[0] = (byte)PduType.PData;
            buf[1] = 0;
            BinaryPrimitives.WriteUInt32BigEndian(buf.AsSpan(2), (uint)(n + 6));
            BinaryPrimitives.WriteUInt32BigEndian(buf.AsSpan(6), (uint)(n + 2));
            buf[10] = contextId;
            buf[11] = Pdu.ControlHeader(isCommand, last);
            message.Span.Slice(pos, n).CopyTo(buf.AsSpan(Pdu.PDataOverhead));
            _stream.Write(buf, 0, n + Pdu.PDataOverhead);
            pos += n;
        } while (pos < message.Length);
    }

    DimseResponse ReceiveResponse(ushort messageId, ushort expectedCommand)
    {
        var command = new MemoryStream();
        while (true)
        {
            var (type, body) = ReadPdu("DIMSE response");
            switch (type)
            {
                case PduType.PData:
                    foreach (var pdv in Pdu.DecodePData(body))
                    {
                        if (!pdv.IsCommand) continue; // C-STORE/C-ECHO responses carry no data set
                        command.Write(pdv.Data);
                        if (!pdv.IsLast) continue;
                        var rsp = DimseCommand.Parse(command.ToArray());
                        command.SetLength(0);
                        if (rsp.CommandField != expectedCommand || rsp.MessageIdBeingRespondedTo != messageId)
                        {
                            Abort();
                            throw new DicomNetworkException(NetworkFailure.Protocol,
                                $"{Where}: unexpected response (command 0x{rsp.CommandField:X4} to message {rsp.MessageIdBeingRespondedTo}, expected 0x{expectedCommand:X4} to {messageId})");
                        }
                        if (rsp.Status.Category == StatusCategory.Pending) continue;
                        return rsp;
                    }
                    break;
                case PduType.Abort:
                    Lost();
                    throw new DicomNetworkException(NetworkFailure.Aborted, $"{Where}: {Pdu.DecodeAbort(body).Describe()}");
                case PduType.ReleaseRequest:
                    Lost();
                    throw new DicomNetworkException(NetworkFailure.Aborted, $"{Where}: the peer released the association before responding");
                default:
                    Abort();
                    throw new DicomNetworkException(NetworkFailure.Protocol, $"{Where}: unexpected {type} PDU while waiting for a response");
            }
        }
    }

    (PduType, byte[]) ReadPdu(string waitingFor)
    {
        EnsureOpen();
        (PduType, byte[])? pdu;
        try
        {
            pdu = Pdu.Read(_reader, Math.Max(_options.MaxPduLength, 65536) + 1024);
        }
        catch (IOException e) when (e.InnerException is SocketException se && se.SocketErrorCode == SocketError.TimedOut)
        {
            Abort();
            throw new DicomNetworkException(NetworkFailure.Timeout, $"{Where}: no {waitingFor} within {_options.ReadTimeout.TotalSeconds:0.#} s; association aborted", e);
        }
        catch (IOException e)
        {
            Lost();
            throw new DicomNetworkException(NetworkFailure.Aborted, $"{Where}: connection lost while waiting for {waitingFor} ({e.Message})", e);
        }
        catch (DicomProtocolException e)
        {
            Abort();
            throw new DicomNetworkException(NetworkFailure.Protocol, $"{Where}: {e.Message}", e);
        }
        if (pdu is null)
        {
            Lost();
            throw new DicomNetworkException(NetworkFailure.Aborted, $"{Where}: the peer closed the connection while waiting for {waitingFor}");
        }
        return pdu.Value;
    }

    string? TryReadAbortReason()
    {
        try
        {
            _socket.ReceiveTimeout = 200;
            var p = Pdu.Read(_stream, 1 << 16);
            return p is { Type: PduType.Abort } a ? Pdu.DecodeAbort(a.Body).Describe() : null;
        }
        catch (Exception e) when (e is IOException or DicomProtocolException or ObjectDisposedException or SocketException)
        {
            return null;
        }
    }

    string Where => $"{_options.Host}:{_options.Port}";

    void EnsureOpen()
    {
        if (_closed) throw new DicomNetworkException(NetworkFailure.Aborted, $"{Where}: the association is no longer open");
    }

    /// <summary>A-RELEASE; when the peer does not answer within the timeout, the association is aborted.</summary>
    public void Release()
    {
        if (_closed) return;
        try
        {
            _stream.Write(Pdu.ReleaseRequest());
            while (true)
            {
                var (type, _) = ReadPdu("A-RELEASE-RP");
                if (type is PduType.ReleaseResponse or PduType.Abort) break;
            }
        }
        catch (Exception e) when (e is IOException or DicomNetworkException)
        {
            // the data is already acknowledged; a failed release only ends the connection less politely
        }
        Close();
    }

    /// <summary>A-ABORT (service user) and close.</summary>
    public void Abort()
    {
        if (_closed) return;
        try
        {
            _stream.Write(Pdu.Encode(new AbortPdu(0, 0)));
        }
        catch (IOException) { }
        Close();
    }

    void Lost() => Close();

    void Close()
    {
        if (_closed) return;
        _closed = true;
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        _stream.Dispose();
        _socket.Dispose();
    }

    public void Dispose()
    {
        if (!_closed) Abort();
    }
}

/// <summary>
/// Reads from the connection and re-arms TCP_QUICKACK (Linux) around every read, so the peer's segments are
/// acknowledged at once. Peers that write a DIMSE response in two small segments with Nagle's algorithm on (dcmtk
/// storescp does) otherwise wait for our delayed ACK, up to 40 ms per message: measured 46 ms per instance without,
/// which capped C-STORE at about 11 MB/s on loopback.
/// </summary>
sealed class QuickAckReader : Stream
{
    readonly Stream _inner;
    readonly Socket _socket;
    bool _enabled = OperatingSystem.IsLinux();

    public QuickAckReader(Stream inner, Socket socket)
    {
        _inner = inner;
        _socket = socket;
    }

    void Arm()
    {
        if (!_enabled) return;
        try { _socket.SetRawSocketOption(6 /* IPPROTO_TCP */, 12 /* TCP_QUICKACK */, BitConverter.GetBytes(1)); }
        catch (SocketException) { _enabled = false; }
        catch (ObjectDisposedException) { _enabled = false; }
    }

    public override int Read(Span<byte> buffer)
    {
        Arm();
        int n = _inner.Read(buffer);
        Arm();
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
