using System.Net;
using System.Net.Sockets;
using MedRecon.Dicom;
using MedRecon.Dicom.Network;

namespace MedRecon.Tests.Dicom.Network;

/// <summary>What the fake SCP does after accepting an association.</summary>
public enum FakeBehaviour
{
    /// <summary>Answers every C-STORE with <see cref="FakeScp.Status"/>, records the PDU sizes and data sets.</summary>
    Store,
    /// <summary>Sends A-ABORT when the first data set fragment arrives, then closes.</summary>
    AbortOnData,
    /// <summary>Closes the TCP connection (no A-ABORT) when the first data set fragment arrives.</summary>
    CloseOnData,
    /// <summary>Reads everything and never answers.</summary>
    Silent,
    /// <summary>Accepts the association but rejects every presentation context (abstract syntax not supported).</summary>
    RejectContexts,
    /// <summary>The first <see cref="FakeScp.FailFirst"/> connections get a transient A-ASSOCIATE-RJ (congestion); later ones are served as <see cref="Store"/>.</summary>
    TransientRejectFirst,
    /// <summary>The first <see cref="FakeScp.FailFirst"/> connections are closed before any answer; later ones are served as <see cref="Store"/>.</summary>
    CloseBeforeAssociationFirst,
}

/// <summary>A small DICOM acceptor on 127.0.0.1 built on MedRecon's own PDU codec, for failures real servers do not
/// produce on demand.</summary>
public sealed class FakeScp : IDisposable
{
    readonly TcpListener _listener;
    readonly Thread _thread;
    volatile bool _stopping;
    public int Port { get; }
    public FakeBehaviour Behaviour { get; }
    public uint MaxPduLength { get; init; } = 16384;
    public ushort Status { get; init; } = 0x0000;
    public List<int> PDataBodyLengths { get; } = new();
    public List<byte[]> DataSets { get; } = new();
    public List<AssociateRequest> Requests { get; } = new();
    public Exception? Error { get; private set; }
    public int FailFirst { get; init; } = 1;
    int _connections;
    public int Connections => _connections;

    public FakeScp(FakeBehaviour behaviour)
    {
        Behaviour = behaviour;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _thread = new Thread(Loop) { IsBackground = true };
        _thread.Start();
    }

    public DicomClientOptions Client(double readTimeoutSeconds = 5) => new()
    {
        Host = "127.0.0.1", Port = Port, CalledAE = "FAKE", ConnectTimeout = TimeSpan.FromSeconds(5),
        ReadTimeout = TimeSpan.FromSeconds(readTimeoutSeconds), Retries = 0,
    };

    void Loop()
    {
        while (!_stopping)
        {
            Socket s;
            try { s = _listener.AcceptSocket(); }
            catch (SocketException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (InvalidOperationException) { return; } // stopped while the previous association was being served
            try { using (s) Serve(s); }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { }
            catch (Exception e) { Error = e; }
        }
    }

    void Serve(Socket socket)
    {
        using var stream = new NetworkStream(socket);
        int n = Interlocked.Increment(ref _connections);
        if (Behaviour == FakeBehaviour.CloseBeforeAssociationFirst && n <= FailFirst)
        {
            socket.Close(0); // RST before the association: a transient failure for the requestor
            return;
        }
        var first = Pdu.Read(stream, 1 << 20);
        if (Behaviour == FakeBehaviour.TransientRejectFirst && n <= FailFirst)
        {
            stream.Write(Pdu.Encode(new AssociateReject(2, 3, 1)));
            return;
        }
        if (first is not { Type: PduType.AssociateRequest }) return;
        var rq = Pdu.DecodeAssociateRequest(first.Value.Body);
        lock (Requests) Requests.Add(rq);
        var ac = new AssociateAccept
        {
            CalledAE = rq.CalledAE, CallingAE = rq.CallingAE, MaxPduLength = MaxPduLength,
            Contexts = rq.Contexts.Select(c => Behaviour == FakeBehaviour.RejectContexts
                ? new PresentationContextAnswer(c.Id, PresentationContextResult.AbstractSyntaxNotSupported, c.TransferSyntaxes[0])
                : new PresentationContextAnswer(c.Id, PresentationContextResult.Acceptance, c.TransferSyntaxes[0])).ToList(),
        };
        stream.Write(Pdu.Encode(ac));
        var command = new MemoryStream();
        var data = new MemoryStream();
        byte ctx = 0;
        while (true)
        {
            var pdu = Pdu.Read(stream, 1 << 24);
            if (pdu is null) return;
            var (type, body) = pdu.Value;
            if (type == PduType.ReleaseRequest)
            {
                stream.Write(Pdu.ReleaseResponse());
                return;
            }
            if (type != PduType.PData) return;
            lock (PDataBodyLengths) PDataBodyLengths.Add(body.Length);
            foreach (var pdv in Pdu.DecodePData(body))
            {
                ctx = pdv.ContextId;
                if (!pdv.IsCommand)
                {
                    if (Behaviour == FakeBehaviour.AbortOnData)
                    {
                        stream.Write(Pdu.Encode(new AbortPdu(2, 6)));
                        Thread.Sleep(50);
                        return;
                    }
                    if (Behaviour == FakeBehaviour.CloseOnData)
                    {
                        socket.Close(0);
                        return;
                    }
                    data.Write(pdv.Data);
                }
                else command.Write(pdv.Data);
                if (!pdv.IsLast) continue;
                var cmd = DimseCommand.Parse(command.ToArray());
                ushort field = (cmd.GetUInt16(0x0100) ?? 0);
                bool hasData = (cmd.GetUInt16(0x0800) ?? 0) != DimseCommand.NoDataSet;
                if (pdv.IsCommand && hasData) continue; // wait for the data set
                if (Behaviour == FakeBehaviour.Silent) { command.SetLength(0); data.SetLength(0); continue; }
                ushort id = (cmd.GetUInt16(0x0110) ?? 0);
                string cls = cmd.GetText(0x0002) ?? "";
                if (field == DimseCommand.CStoreRequest) lock (DataSets) DataSets.Add(data.ToArray());
                var rsp = field == DimseCommand.CEchoRequest
                    ? DimseCommand.Response(DimseCommand.CEchoResponse, id, cls, 0)
                    : DimseCommand.Response(DimseCommand.CStoreResponse, id, cls, Status, cmd.GetText(0x1000));
                foreach (var p in Pdu.Fragment(ctx, true, rsp, 16384)) stream.Write(p);
                command.SetLength(0);
                data.SetLength(0);
            }
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _listener.Stop();
        _thread.Join(2000);
    }
}
