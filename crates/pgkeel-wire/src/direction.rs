//! Which side sent a message. The same tag means different messages in each direction
//! ('D' is Describe from the client but DataRow from the server).

/// The sender of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Sent by the client (the frontend) to the server.
    Frontend,
    /// Sent by the server (the backend) to the client.
    Backend,
}

impl Direction {
    /// The other direction.
    pub fn reverse(self) -> Self {
        match self {
            Direction::Frontend => Direction::Backend,
            Direction::Backend => Direction::Frontend,
        }
    }

    /// `"client"` or `"server"`: who sent it.
    pub fn sender(self) -> &'static str {
        match self {
            Direction::Frontend => "client",
            Direction::Backend => "server",
        }
    }
}
