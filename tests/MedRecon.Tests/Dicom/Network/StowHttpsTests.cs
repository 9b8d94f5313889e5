using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MedRecon.Dicom;
using MedRecon.Dicom.Network;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom.Network;

/// <summary>STOW-RS over HTTPS to a minimal TLS server on 127.0.0.1 with a self-signed certificate.</summary>
public class StowHttpsTests
{
    static X509Certificate2 SelfSigned()
    {
        using var rsa = RSA.Create(2048);
        var req = new CertificateRequest("CN=127.0.0.1", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        req.CertificateExtensions.Add(san.Build());
        using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pfx), null); // a key usable by SslStream on Linux
    }

    /// <summary>Serves connections until disposed: TLS, one request per connection, answers 200 listing the UIDs it received.</summary>
    sealed class TlsStowServer : IDisposable
    {
        readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        readonly Thread _thread;
        public int Port { get; }
        public List<string> Authorizations { get; } = new();
        public Exception? Error { get; private set; }

        public TlsStowServer(X509Certificate2 cert)
        {
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _thread = new Thread(() =>
            {
                while (true)
                {
                    TcpClient c;
                    try { c = _listener.AcceptTcpClient(); }
                    // Stop() may land while the last connection is still being served: the next accept then throws
                    // InvalidOperationException ("Not listening"), which must end the loop, not the test host
                    catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException) { return; }
                    try { using (c) Serve(c, cert); }
                    catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or ObjectDisposedException) { }
                    catch (Exception e) { Error ??= e; } // an unhandled exception on this thread would abort the whole run
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        void Serve(TcpClient c, X509Certificate2 cert)
        {
            c.ReceiveTimeout = 5000;
            using var tls = new SslStream(c.GetStream());
            tls.AuthenticateAsServer(cert);
            var head = new MemoryStream();
            while (!head.ToArray().AsSpan().EndsWith("\r\n\r\n"u8))
            {
                int b = tls.ReadByte();
                if (b < 0) return;
                head.WriteByte((byte)b);
            }
            var headers = Encoding.ASCII.GetString(head.ToArray()).Split("\r\n");
            string? Header(string name) => headers.FirstOrDefault(h => h.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase))?[(name.Length + 1)..].Trim();
            lock (Authorizations) Authorizations.Add(Header("Authorization") ?? "");
            var body = new byte[int.Parse(Header("Content-Length")!)];
            tls.ReadExactly(body);
            string boundary = Header("Content-Type")!.Split("boundary=")[1].Split(';')[0].Trim('"');
            var uids = Encoding.Latin1.GetString(body).Split("--" + boundary).Skip(1).Where(p => !p.StartsWith("--"))
                .Select(p => p[(p.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..^2])
                .Select(p => DicomFile.Open(Encoding.Latin1.GetBytes(p)).Dataset.GetString(DicomTag.SOPInstanceUID));
            var json = Encoding.UTF8.GetBytes(FakeHttpServer.Json(uids, Array.Empty<(string, int)>()));
            tls.Write(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: application/dicom+json\r\nContent-Length: {json.Length}\r\nConnection: close\r\n\r\n"));
            tls.Write(json);
        }

        public void Dispose()
        {
            _listener.Stop();
            _thread.Join(2000);
        }
    }

    [Fact]
    public void Https_WithATrustedCertificate_Stores_And_AnUntrustedOne_FailsClearly()
    {
        using var tmp = new TempDir();
        var files = PacsTestUtil.WriteDerivedSeries(tmp["s"], "MR", 2, 16);
        using var cert = SelfSigned();
        using var server = new TlsStowServer(cert);
        var url = new Uri($"https://127.0.0.1:{server.Port}/dicom-web");

        // the system trust store does not know the test certificate: refused, nothing sent in clear
        var untrusted = StowRsClient.Send(files, new StowRsOptions { Url = url, BearerToken = "tls-token", Retries = 0 });
        Assert.All(untrusted, r =>
        {
            Assert.Equal(StoreOutcome.Failure, r.Outcome);
            Assert.Contains("TLS (SSL) connection failed", r.Message);
            Assert.Contains("certificate", r.Message);
        });
        Assert.DoesNotContain("Bearer tls-token", server.Authorizations);

        // pinned to the test certificate
        using var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, c, _, _) => c?.GetCertHashString() == cert.GetCertHashString() },
        };
        var results = StowRsClient.Send(files, new StowRsOptions { Url = url, BearerToken = "tls-token", Handler = handler });
        Assert.All(results, r => Assert.True(r.Outcome == StoreOutcome.Success, r.Message));
        Assert.Contains("Bearer tls-token", server.Authorizations);
        Assert.Null(server.Error);
    }
}
