pub mod session;
pub mod signin;
