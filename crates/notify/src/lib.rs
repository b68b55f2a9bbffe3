//! Delivering notifications: e-mail through an SMTP relay (`lettre`), webhooks over HTTPS
//! (`reqwest`, for SMS gateways and the like). The outbox, retries and backoff are
//! `carnet-service`'s; this crate only knows how to hand one message to the outside world.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// The one error type of this crate: configuration problems (delivery failures are returned as
/// strings to the outbox, which records them and retries).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notifications.smtp_url: {0}")]
    SmtpUrl(String),
    #[error("notifications.from: {0}")]
    From(String),
    #[error("webhook client: {0}")]
    Http(String),
}

/// Where and as whom notifications are sent.
#[derive(Debug, Clone)]
pub struct CourierSettings {
    /// `smtp://host:port` (plain, for a local relay), `smtp://host:port?tls=required`
    /// (STARTTLS) or `smtps://host:port`; credentials as `smtp://user:pass@host`. `None`: no
    /// e-mail (messages wait in the outbox and are retried).
    pub smtp_url: Option<String>,
    /// The sender, e.g. `Carnet <noreply@carnet.example.org>`.
    pub from: String,
    /// Per attempt.
    pub timeout: Duration,
}

pub struct SmtpCourier {
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    http: reqwest::Client,
}

impl SmtpCourier {
    pub fn new(settings: &CourierSettings) -> Result<SmtpCourier, NotifyError> {
        let smtp = settings
            .smtp_url
            .as_deref()
            .map(|url| {
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map(|b| b.timeout(Some(settings.timeout)).build())
                    .map_err(|e| NotifyError::SmtpUrl(e.to_string()))
            })
            .transpose()?;
        let from = settings.from.parse::<Mailbox>().map_err(|e| NotifyError::From(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NotifyError::Http(e.to_string()))?;
        Ok(SmtpCourier { smtp, from, http })
    }
}

impl carnet_service::Courier for SmtpCourier {
    async fn send_email(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        let smtp = self.smtp.as_ref().ok_or("no SMTP relay configured (notifications.smtp_url)")?;
        let to: Mailbox = to.parse().map_err(|e| format!("recipient address: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| format!("building the message: {e}"))?;
        smtp.send(message).await.map(|_| ()).map_err(|e| format!("SMTP: {e}"))
    }

    async fn post_webhook(&self, url: &str, payload: &serde_json::Value) -> Result<(), String> {
        let response = self.http.post(url).json(payload).send().await.map_err(|e| format!("webhook: {e}"))?;
        if response.status().is_success() { Ok(()) } else { Err(format!("webhook answered {}", response.status())) }
    }
}
