//! A raw OPC UA TCP client (security policy None) that sends whatever bytes
//! a test gives it: the handshake and services are encoded by the stack's
//! types, the framing by hand, so a test can break any part of it.

use std::io::Cursor;
use std::time::Duration;

use opcua::types::{
    ActivateSessionRequest, ActivateSessionResponse, AnonymousIdentityToken, BinaryDecodable,
    BinaryEncodable, ByteString, ContextOwned, CreateSessionRequest, CreateSessionResponse,
    DateTime, ExtensionObject, MessageSecurityMode, NodeId, ObjectId, OpenSecureChannelRequest,
    OpenSecureChannelResponse, RequestHeader, SecurityTokenRequestType, ServiceFault, StatusCode,
    UAString,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest message this client reads back.
const MAX_READ: usize = 16 << 20;
/// How long a reply may take before the test calls it silence.
pub(crate) const REPLY_WITHIN: Duration = Duration::from_secs(10);

/// What came back from the server.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A message: its 4-byte type ("MSGF", "OPNF", "ACKF", "ERRF") and the whole of it.
    Message([u8; 4], Vec<u8>),
    /// The server closed the connection.
    Closed,
}

/// One raw connection.
pub(crate) struct RawClient {
    /// The socket, for tests that write bytes of their own.
    pub(crate) stream: TcpStream,
    channel_id: u32,
    token_id: u32,
    sequence: u32,
    request_id: u32,
    /// The session's authentication token once activated (null before).
    pub(crate) auth: NodeId,
    ctx: ContextOwned,
}

/// The 8-byte message header: type (3 letters + chunk type) and total size.
pub(crate) fn header(kind: [u8; 4], size: u32) -> Vec<u8> {
    let mut out = kind.to_vec();
    out.extend_from_slice(&size.to_le_bytes());
    out
}

fn ua_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.extend_from_slice(&(-1i32).to_le_bytes()),
        Some(s) => {
            out.extend_from_slice(&i32::try_from(s.len()).unwrap().to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// A HEL message for `url` with 64 KiB buffers and no message limits.
pub(crate) fn hello_message(url: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for v in [0u32, 65_536, 65_536, 0, 0] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    ua_string(&mut body, Some(url));
    let mut out = header(*b"HELF", u32::try_from(8 + body.len()).unwrap());
    out.extend(body);
    out
}

impl RawClient {
    /// Connect, exchange HEL/ACK and open a secure channel with policy None.
    pub(crate) async fn open(addr: &str, url: &str) -> RawClient {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let mut c = RawClient {
            stream,
            channel_id: 0,
            token_id: 0,
            sequence: 0,
            request_id: 0,
            auth: NodeId::null(),
            ctx: ContextOwned::default(),
        };
        c.send_raw(&hello_message(url)).await;
        match c.recv().await {
            Reply::Message(kind, _) if &kind == b"ACKF" => {}
            other => panic!("expected ACK, got {other:?}"),
        }
        let request = OpenSecureChannelRequest {
            request_header: RequestHeader::dummy(),
            client_protocol_version: 0,
            request_type: SecurityTokenRequestType::Issue,
            security_mode: MessageSecurityMode::None,
            client_nonce: ByteString::null(),
            requested_lifetime: 600_000,
        };
        let mut chunk = Vec::new();
        chunk.extend_from_slice(&0u32.to_le_bytes());
        ua_string(
            &mut chunk,
            Some("http://opcfoundation.org/UA/SecurityPolicy#None"),
        );
        chunk.extend_from_slice(&(-1i32).to_le_bytes());
        chunk.extend_from_slice(&(-1i32).to_le_bytes());
        c.sequence += 1;
        c.request_id += 1;
        chunk.extend_from_slice(&c.sequence.to_le_bytes());
        chunk.extend_from_slice(&c.request_id.to_le_bytes());
        chunk.extend(c.encode(
            &ObjectId::OpenSecureChannelRequest_Encoding_DefaultBinary.into(),
            &request,
        ));
        let mut message = header(*b"OPNF", u32::try_from(8 + chunk.len()).unwrap());
        message.extend(chunk);
        c.send_raw(&message).await;
        let body = match c.recv().await {
            Reply::Message(kind, body) if &kind == b"OPNF" => body,
            other => panic!("expected OPN, got {other:?}"),
        };
        // Skip the header, channel id and asymmetric security header.
        let mut at = 12;
        for _ in 0..3 {
            let len = i32::from_le_bytes(body[at..at + 4].try_into().unwrap());
            at += 4 + usize::try_from(len.max(0)).unwrap();
        }
        at += 8; // sequence header
        let response: OpenSecureChannelResponse = c.decode(&body[at..]).expect("channel opened");
        c.channel_id = response.security_token.channel_id;
        c.token_id = response.security_token.token_id;
        c
    }

    /// Create and activate an anonymous session that times out after `timeout`.
    pub(crate) async fn activate(&mut self, url: &str, timeout: Duration) {
        let create = CreateSessionRequest {
            request_header: self.request_header(),
            endpoint_url: url.into(),
            session_name: "hostile".into(),
            client_nonce: ByteString::from(vec![7u8; 32]),
            requested_session_timeout: timeout.as_secs_f64() * 1000.0,
            ..Default::default()
        };
        let created: CreateSessionResponse = self
            .call(
                ObjectId::CreateSessionRequest_Encoding_DefaultBinary,
                &create,
            )
            .await
            .expect("session created");
        self.auth = created.authentication_token;
        let activate = ActivateSessionRequest {
            request_header: self.request_header(),
            user_identity_token: ExtensionObject::from_message(AnonymousIdentityToken {
                policy_id: UAString::from("anonymous"),
            }),
            ..Default::default()
        };
        let _: ActivateSessionResponse = self
            .call(
                ObjectId::ActivateSessionRequest_Encoding_DefaultBinary,
                &activate,
            )
            .await
            .expect("session activated");
    }

    /// A request header carrying the session's token.
    pub(crate) fn request_header(&self) -> RequestHeader {
        RequestHeader::new(&self.auth, &DateTime::now(), self.request_id + 1)
    }

    /// The type id and body of a message in the stack's binary encoding.
    pub(crate) fn encode(&self, type_id: &NodeId, body: &impl BinaryEncodable) -> Vec<u8> {
        let ctx = self.ctx.context();
        let mut out = Vec::new();
        type_id.encode(&mut out, &ctx).expect("type id encodes");
        body.encode(&mut out, &ctx).expect("body encodes");
        out
    }

    /// Decode a response body (type id first); a `ServiceFault` is the error.
    pub(crate) fn decode<T: BinaryDecodable>(&self, bytes: &[u8]) -> Result<T, StatusCode> {
        let ctx = self.ctx.context();
        let mut cursor = Cursor::new(bytes);
        let type_id = NodeId::decode(&mut cursor, &ctx).expect("type id");
        if matches!(
            type_id.as_object_id(),
            Ok(ObjectId::ServiceFault_Encoding_DefaultBinary)
        ) {
            let fault = ServiceFault::decode(&mut cursor, &ctx).expect("service fault");
            return Err(fault.response_header.service_result);
        }
        Ok(T::decode(&mut cursor, &ctx).expect("response decodes"))
    }

    /// Send one final MSG chunk holding `payload` (type id and body); returns its request id.
    pub(crate) async fn send_payload(&mut self, payload: &[u8]) -> u32 {
        let id = self.next_request_id();
        let chunk = self.chunk(*b"MSGF", id, payload);
        self.send_raw(&chunk).await;
        id
    }

    /// A fresh request id.
    pub(crate) fn next_request_id(&mut self) -> u32 {
        self.request_id += 1;
        self.request_id
    }

    /// A MSG chunk of type `kind` ("MSGF" final, "MSGC" intermediate) of
    /// request `id`, with the next sequence number.
    pub(crate) fn chunk(&mut self, kind: [u8; 4], id: u32, payload: &[u8]) -> Vec<u8> {
        self.sequence += 1;
        let mut out = header(kind, u32::try_from(24 + payload.len()).unwrap());
        for v in [self.channel_id, self.token_id, self.sequence, id] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    /// Send a service request and wait for its response.
    pub(crate) async fn call<T: BinaryDecodable>(
        &mut self,
        type_id: ObjectId,
        request: &impl BinaryEncodable,
    ) -> Result<T, StatusCode> {
        let payload = self.encode(&type_id.into(), request);
        self.send_payload(&payload).await;
        let body = self.recv_message().await;
        self.decode(&body[24..])
    }

    /// The next MSG, failing the test on anything else.
    pub(crate) async fn recv_message(&mut self) -> Vec<u8> {
        match self.recv().await {
            Reply::Message(kind, body) if &kind == b"MSGF" => body,
            other => panic!("expected a MSG, got {other:?}"),
        }
    }

    /// Write bytes as they are.
    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send");
    }

    /// The next message or the close, within [`REPLY_WITHIN`].
    pub(crate) async fn recv(&mut self) -> Reply {
        tokio::time::timeout(REPLY_WITHIN, read_message(&mut self.stream))
            .await
            .expect("the server answers or closes")
    }
}

/// Read one message (or the close) from `stream`.
pub(crate) async fn read_message(stream: &mut TcpStream) -> Reply {
    let mut head = [0u8; 8];
    if stream.read_exact(&mut head).await.is_err() {
        return Reply::Closed;
    }
    let size = usize::try_from(u32::from_le_bytes(head[4..].try_into().unwrap())).unwrap();
    assert!(
        (8..=MAX_READ).contains(&size),
        "the server sent a {size}-byte message"
    );
    let mut body = head.to_vec();
    body.resize(size, 0);
    if stream.read_exact(&mut body[8..]).await.is_err() {
        return Reply::Closed;
    }
    Reply::Message(head[..4].try_into().unwrap(), body)
}

/// Read until the server closes, within `limit`; the messages it sent on the way.
pub(crate) async fn until_closed(stream: &mut TcpStream, limit: Duration) -> Vec<[u8; 4]> {
    let mut kinds = Vec::new();
    tokio::time::timeout(limit, async {
        loop {
            match read_message(stream).await {
                Reply::Closed => break,
                Reply::Message(kind, _) => kinds.push(kind),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the server kept the connection open for {limit:?}"));
    kinds
}
