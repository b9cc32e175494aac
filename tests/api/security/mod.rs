mod revocation;
mod staff;
mod time;
